import { Timestamp, type Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { countOf } from "../count";
import { COUNT_CAP } from "../limits";
import type { WorkerDeps } from "../deps";
import { progressTotal, type OnProgress } from "../progress";
import { DueTaskFinder } from "./dueTasks";
import type { Outcome } from "./plan";
import { PROGRESSED, type TaskResult } from "./processMirrorTask";
import { sweepMirrorQueue } from "./sweep";

/**
 * `workers mirror drain`: sweep after sweep until a pass finds nothing, or makes no progress (every
 * task it found was held by another worker or could not be claimed). A pass that makes no progress
 * ends the drain instead of repeating it, and the report says which tasks were stuck and why.
 */
export interface DrainReport {
  batches: number;
  found: number;
  done: number;
  failed: number;
  deadLetter: number;
  invalid: number;
  byOutcome: Record<Outcome, number>;
  /** Tasks of the last pass that nothing could move on, with the reason. */
  stuck: { taskId: string; reason: string; error?: string }[];
}

/** Tasks due now: pending, failed with a retry due, processing with an expired lease. */
export function dueTaskQueries(db: Firestore, nowMs: number) {
  const queue = db.collection(COLLECTIONS.mirrorQueue);
  const now = Timestamp.fromMillis(nowMs);
  return [
    queue.where("status", "==", "pending"),
    queue.where("status", "==", "failed").where("nextAttemptAt", "<=", now),
    queue.where("status", "==", "processing").where("leaseExpiresAt", "<=", now),
  ];
}

/** The progress total of a drain (count aggregations). An estimate: tasks enqueued meanwhile are drained too. */
async function dueTaskCount(db: Firestore, nowMs: number): Promise<number> {
  const counts = await Promise.all(dueTaskQueries(db, nowMs).map((query) => countOf(query.limit(COUNT_CAP))));
  return counts.reduce((a, b) => a + b, 0);
}

export async function drainQueue(
  deps: WorkerDeps,
  options: { limit: number; workerId?: string; onProgress?: OnProgress },
): Promise<DrainReport> {
  const total = options.onProgress ? await progressTotal(deps.logger, "tasks", () => dueTaskCount(deps.db, deps.clock.now())) : undefined;
  const finder = new DueTaskFinder(deps.db, { leaseMs: deps.config.MIRROR_LEASE_MS, logger: deps.logger });
  const totals: DrainReport = {
    batches: 0,
    found: 0,
    done: 0,
    failed: 0,
    deadLetter: 0,
    invalid: 0,
    byOutcome: { published: 0, updated: 0, removed: 0, unpublished: 0, stale: 0, "not-mirrored": 0 },
    stuck: [],
  };
  for (;;) {
    const report = await sweepMirrorQueue(deps, { limit: options.limit, workerId: options.workerId ?? "drain", finder });
    totals.batches++;
    totals.found += report.found;
    totals.done += report.byStatus.done;
    totals.failed += report.byStatus.failed;
    totals.deadLetter += report.byStatus["dead-letter"];
    totals.invalid += report.byStatus.invalid;
    for (const [outcome, n] of Object.entries(report.byOutcome)) totals.byOutcome[outcome as Outcome] += n;
    const { done, failed, deadLetter, invalid } = totals;
    options.onProgress?.({ run: "mirror drain", phase: "tasks", done: totals.found, total, counts: { done, failed, deadLetter, invalid } });
    if (report.found === 0) return totals;
    if (report.progressed === 0) {
      totals.stuck = report.results.filter((r) => !PROGRESSED.includes(r.status)).map(stuckEntry);
      return totals;
    }
  }
}

/** Why a task a batch did not move on stays where it is: the skip's reason, or `lease-lost`. */
function stuckEntry(r: TaskResult): DrainReport["stuck"][number] {
  if (r.status !== "skipped") return { taskId: r.taskId, reason: r.status };
  return { taskId: r.taskId, reason: r.reason, ...(r.error ? { error: r.error } : {}) };
}
