import { Timestamp } from "firebase-admin/firestore";
import type { WorkerDeps } from "../deps";
import type { MediaStore } from "../storage/mediaStore";
import { runMediaGC, type MediaGCReport } from "../mediaGC/runMediaGC";
import { runBackfill, type BackfillReport } from "../mirror/backfill";
import { sweepMirrorQueue, type MirrorSweepReport } from "../mirror/sweep";
import { getQueueStatus, type QueueStatus } from "../mirror/queueStatus";
import type { ApplyTask } from "../mirror/repairTasks";
import { verifyMirror, type VerifyReport } from "../mirror/verify";
import type { OnProgress } from "../progress";
import { refreshSignupImageCache, type SignupCacheReport } from "../signupCache/refreshSignupImageCache";
import { processSnapshots, type SnapshotReport } from "../snapshots/processSnapshots";
import { parseIsoDate, type RunWorkerRequest } from "./request";
import { MANUAL_SWEEP_LIMIT } from "../limits";
import { claimLimits } from "../mirror/claim";

/**
 * What an entry point adds to a request: the CLI shows progress, stops on a signal, paces and
 * applies the tasks it enqueues itself, and has no time budget; the callable passes nothing (a
 * deployed run keeps the workers' default budget, and the trigger applies the tasks).
 */
export interface ManualRunHooks {
  onProgress?: OnProgress;
  /** mirrorBackfill, mirrorVerify: stop between pages. */
  signal?: AbortSignal;
  /** mirrorBackfill, mirrorVerify: stop at once, leaving the page in hand. */
  abandon?: AbortSignal;
  /** mirrorBackfill: who holds the cursor's lease (default "runWorker"). */
  workerId?: string;
  /** mirrorBackfill, mirrorVerify: documents walked a second. */
  rate?: number;
  /** mirrorBackfill, mirrorVerify: apply each enqueued task in this process. */
  apply?: ApplyTask;
  /** mirrorBackfill, mirrorVerify: the time budget in ms (Infinity: none). */
  timeBudgetMs?: number;
}

/** Each worker's report, by the request's `worker`. */
export interface ManualRunReports {
  mediaGC: MediaGCReport;
  snapshots: SnapshotReport;
  signupImageCache: SignupCacheReport;
  mirrorQueue: MirrorSweepReport;
  mirrorBackfill: BackfillReport;
  mirrorVerify: VerifyReport;
  status: QueueStatus;
}

/** A manual run's result, keyed by `worker`: switching on it types `report` without a cast. */
export type ManualRunResult = { [W in keyof ManualRunReports]: { worker: W; report: ManualRunReports[W] } }[keyof ManualRunReports];

/**
 * Runs the worker a validated manual request names and returns its report. `mediaStore` is
 * called only by a GC that deletes (a dry run reads Firestore only), so a missing storage
 * setting fails only the runs that need storage, with the ConfigError naming it.
 */
export async function runManual(
  deps: WorkerDeps,
  mediaStore: () => MediaStore,
  request: RunWorkerRequest,
  hooks: ManualRunHooks = {},
): Promise<ManualRunResult> {
  const { onProgress } = hooks;
  switch (request.worker) {
    case "mediaGC": {
      const { worker, ...options } = request;
      const report = options.dryRun
        ? await runMediaGC(deps, { ...options, dryRun: true, onProgress })
        : await runMediaGC({ ...deps, store: mediaStore() }, { ...options, dryRun: false, onProgress });
      return { worker, report };
    }
    case "snapshots": {
      const { worker, ...options } = request;
      return { worker, report: await processSnapshots(deps, options) };
    }
    case "signupImageCache":
      return { worker: request.worker, report: await refreshSignupImageCache(deps) };
    case "mirrorQueue":
      return {
        worker: request.worker,
        report: await sweepMirrorQueue(deps, { limit: request.limit ?? MANUAL_SWEEP_LIMIT.default, workerId: "manual" }),
      };
    case "mirrorBackfill": {
      const { worker, since, ...options } = request;
      return {
        worker,
        report: await runBackfill(deps, {
          ...options,
          ...hooks,
          workerId: hooks.workerId ?? "runWorker",
          ...(since ? { since: Timestamp.fromDate(parseIsoDate(since)) } : {}),
        }),
      };
    }
    case "mirrorVerify": {
      const { workerId: _owner, ...walkHooks } = hooks;
      return { worker: request.worker, report: await verifyMirror(deps, { repair: request.repair, ...walkHooks }) };
    }
    case "status":
      return {
        worker: request.worker,
        report: await getQueueStatus(deps.db, deps.clock.now(), claimLimits(deps.config)),
      };
  }
}
