import type { WorkerDeps } from "../deps";
import { DueTaskFinder } from "./dueTasks";
import type { Outcome } from "./plan";
import { PROGRESSED, type TaskResult, type TaskStatusAfterRun } from "./processMirrorTask";
import { processTaskBatch } from "./taskBatch";
import { unclaimed } from "./taskRun";
import { MANUAL_SWEEP_LIMIT } from "../limits";

export interface MirrorSweepReport {
  found: number;
  /** Tasks whose state this run changed (done, failed with a retry time, dead letter, invalid). */
  progressed: number;
  byStatus: Record<TaskStatusAfterRun, number>;
  /** What the tasks that ended `done` did to the mirror. */
  byOutcome: Record<Outcome, number>;
  durationMs: number;
  /** Slowest and mean task, end to end. */
  taskMs: { max: number; mean: number };
  results: TaskResult[];
}

export function summarize(results: TaskResult[], durationMs: number): MirrorSweepReport {
  const byStatus: Record<TaskStatusAfterRun, number> = { done: 0, failed: 0, "dead-letter": 0, invalid: 0, skipped: 0, "lease-lost": 0 };
  const byOutcome: Record<Outcome, number> = { published: 0, updated: 0, removed: 0, unpublished: 0, stale: 0, "not-mirrored": 0 };
  for (const r of results) {
    byStatus[r.status]++;
    if (r.status === "done") byOutcome[r.outcome]++;
  }
  const times = results.map((r) => r.durationMs);
  const mean = times.length ? Math.round(times.reduce((a, b) => a + b, 0) / times.length) : 0;
  const progressed = results.filter((r) => PROGRESSED.includes(r.status)).length;
  return { found: results.length, progressed, byStatus, byOutcome, durationMs, taskMs: { max: Math.max(0, ...times), mean }, results };
}

/**
 * The sweep: pending, retry-due and lease-expired tasks (and the audit's finds), one transaction
 * at a time (taskBatch.ts), so a sweep never bursts against Firestore; a task's failure is recorded
 * on the task and the sweep goes on. `finder` keeps its place in the queue across runs (the CLI's
 * drain); a sweep without one starts at a random point and goes round.
 */
export async function sweepMirrorQueue(
  deps: WorkerDeps,
  options: { limit?: number; workerId?: string; finder?: DueTaskFinder } = {},
): Promise<MirrorSweepReport> {
  const started = deps.clock.now();
  const finder = options.finder ?? new DueTaskFinder(deps.db, { leaseMs: deps.config.MIRROR_LEASE_MS, logger: deps.logger });
  const due = await finder.find(started, options.limit ?? MANUAL_SWEEP_LIMIT.default);
  const results = await processTaskBatch(deps, due, { workerId: options.workerId ?? "sweep", pool: 1 }).catch((error) =>
    due.map((snap) => unclaimed(snap.id, error, deps)),
  );
  const report = summarize(results, deps.clock.now() - started);
  deps.logger.info("mirror.sweep.completed", {
    found: report.found,
    progressed: report.progressed,
    ...report.byStatus,
    outcomes: report.byOutcome,
    durationMs: report.durationMs,
  });
  return report;
}
