import type { WorkerDeps } from "../deps";
import { DueTaskFinder } from "./dueTasks";
import type { Outcome } from "./plan";
import { PROGRESSED, type TaskResult } from "./processMirrorTask";
import { processPendingTasks } from "./processPendingTasks";

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

export async function drainQueue(deps: WorkerDeps, options: { limit: number; workerId?: string; onBatch?: (batch: number, found: number, progressed: number) => void }): Promise<DrainReport> {
  const finder = new DueTaskFinder(deps.db);
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
    const report = await processPendingTasks(deps, { limit: options.limit, workerId: options.workerId ?? "drain", finder });
    totals.batches++;
    totals.found += report.found;
    totals.done += report.byStatus.done;
    totals.failed += report.byStatus.failed;
    totals.deadLetter += report.byStatus["dead-letter"];
    totals.invalid += report.byStatus.invalid;
    for (const [outcome, n] of Object.entries(report.byOutcome)) totals.byOutcome[outcome as Outcome] += n;
    options.onBatch?.(totals.batches, report.found, report.progressed);
    if (report.found === 0) return totals;
    if (report.progressed === 0) {
      totals.stuck = report.results.filter((r: TaskResult) => !PROGRESSED.includes(r.status)).map((r) => ({ taskId: r.taskId, reason: r.reason ?? r.status, ...(r.error ? { error: r.error } : {}) }));
      return totals;
    }
  }
}
