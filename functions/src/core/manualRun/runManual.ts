import { Timestamp } from "firebase-admin/firestore";
import type { WorkerDeps } from "../deps";
import type { MediaStore } from "../storage/mediaStore";
import { runMediaGC } from "../mediaGC/runMediaGC";
import { runBackfill } from "../mirror/backfill";
import { processPendingTasks } from "../mirror/processPendingTasks";
import { getQueueStatus } from "../mirror/queueStatus";
import type { ApplyTask } from "../mirror/repairTasks";
import { verifyMirror } from "../mirror/verify";
import type { OnProgress } from "../progress";
import { refreshSignupImageCache } from "../signupCache/refreshSignupImageCache";
import { processSnapshots } from "../snapshots/processSnapshots";
import { parseIsoDate, type RunWorkerRequest } from "./request";

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

/**
 * Runs the worker a validated manual request names and returns its report. `mediaStore` is
 * called only by a GC that deletes (a dry run reads Firestore only), so a missing storage
 * setting fails only the runs that need storage, with the ConfigError naming it.
 */
export async function runManual(deps: WorkerDeps, mediaStore: () => MediaStore, request: RunWorkerRequest, hooks: ManualRunHooks = {}): Promise<unknown> {
  const { onProgress } = hooks;
  switch (request.worker) {
    case "mediaGC": {
      const { worker: _w, ...options } = request;
      return options.dryRun ? runMediaGC(deps, { ...options, dryRun: true, onProgress }) : runMediaGC({ ...deps, store: mediaStore() }, { ...options, onProgress });
    }
    case "snapshots": {
      const { worker: _w, ...options } = request;
      return processSnapshots(deps, options);
    }
    case "signupImageCache":
      return refreshSignupImageCache(deps);
    case "mirrorQueue":
      return processPendingTasks(deps, { limit: request.limit ?? 100, workerId: "manual" });
    case "mirrorBackfill": {
      const { worker: _w, since, ...options } = request;
      return runBackfill(deps, { ...options, ...hooks, workerId: hooks.workerId ?? "runWorker", ...(since ? { since: Timestamp.fromDate(parseIsoDate(since)) } : {}) });
    }
    case "mirrorVerify": {
      const { workerId: _owner, ...walkHooks } = hooks;
      return verifyMirror(deps, { repair: request.repair, ...walkHooks });
    }
    case "status":
      return getQueueStatus(deps.db, deps.clock.now(), { maxAttempts: deps.config.MIRROR_MAX_ATTEMPTS });
  }
}
