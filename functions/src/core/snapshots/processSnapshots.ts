import type { WorkerDeps } from "../deps";
import { errorMessage, PermanentError } from "../errors";
import { advanceScanCursor, findCandidates } from "./candidates";
import type { DueRule, Plan } from "./due";
import { claimProject, markHandled, recordFailure, repairCounter } from "./projectMarks";
import { pruneSnapshots, snapshotProject } from "./snapshotProject";

/**
 * The snapshot worker. Candidates (candidates.ts) are taken in queue order, oldest first: a
 * project's place in the queue is when the worker last handled it, or, for one that failed, when
 * its backoff ends; every project a run takes moves to the back, whatever the outcome. So no
 * project is taken twice while another due project has waited longer (README "When, and in what order").
 *  - Up to `batchSize` snapshots a run, within a time budget; due projects left over are first
 *    next run (`deferred`).
 *  - A counter that says "due" while `opIndex` has not moved is repaired without taking a place.
 *  - A failure is recorded on the project (reason, attempts, permanent, retryAt) and retried
 *    with backoff (1 h, doubling, at most 7 days), or sooner once the project changes.
 */
export interface SnapshotOptions {
  maxOps?: number;
  maxHours?: number;
  batchSize?: number;
  /** Snapshot just this project (if due, or always with `force`). */
  projectId?: string;
  force?: boolean;
}

export interface SnapshotReport {
  candidates: number;
  created: { projectId: string; snapshotId: string; opIndex: number; elementCount: number; partCount: number; pruned: number }[];
  skipped: { projectId: string; reason: string }[];
  repaired: { projectId: string; opsSinceSnapshot: { from: number | null; to: number } }[];
  failed: { projectId: string; error: string; permanent: boolean; attempts: number; retryAt: string | null }[];
  /** Due projects left for the next run (batch full or time budget spent). */
  deferred: number;
  complete: boolean;
  durationMs: number;
}

/** The scheduled function's timeout is 9 minutes; no new snapshot starts after 7. */
const TIME_BUDGET_MS = 7 * 60_000;
/** Each candidate query reads up to this many times `batchSize`, so repaired counters and waiting projects do not crowd out due ones. */
const FETCH_FACTOR = 4;

export async function processSnapshots(deps: WorkerDeps, options: SnapshotOptions = {}): Promise<SnapshotReport> {
  const { db, clock, config } = deps;
  const logger = deps.logger.child({ worker: "snapshots" });
  const rule: DueRule = { maxOps: options.maxOps ?? config.SNAPSHOT_MAX_OPS, maxHours: options.maxHours ?? config.SNAPSHOT_MAX_HOURS };
  const batchSize = options.batchSize ?? config.SNAPSHOT_BATCH_SIZE;
  const started = clock.now();
  const report: SnapshotReport = { candidates: 0, created: [], skipped: [], repaired: [], failed: [], deferred: 0, complete: true, durationMs: 0 };

  /** Claims and snapshots one project; true when it took a place in the batch. */
  const snapshotOne = async (projectId: string, force: boolean): Promise<boolean> => {
    let claim;
    try {
      claim = await claimProject(db, projectId, clock.now(), rule, force);
    } catch (error) {
      // The project doc cannot even be written (e.g. at Firestore's size limit): reported, takes no place.
      report.failed.push({ projectId, error: `could not claim the project: ${errorMessage(error)}`, permanent: false, attempts: 0, retryAt: null });
      logger.error("snapshot.claimFailed", { projectId, error });
      return false;
    }
    if (!claim.claimed) {
      report.skipped.push({ projectId, reason: skipReason(claim.plan) });
      return false;
    }
    try {
      const result = await snapshotProject(db, projectId, clock.now());
      if (result.status === "skipped") {
        if (result.reason !== "missing") await markHandled(db, projectId, clock.now());
        report.skipped.push({ projectId, reason: result.reason });
        return true;
      }
      const pruned = await pruneSnapshots(db, projectId, config.SNAPSHOT_KEEP).catch((error) => {
        logger.warn("snapshot.pruneFailed", { projectId, error });
        return 0;
      });
      const { status: _s, covered, ...created } = result;
      report.created.push({ projectId, ...created, pruned });
      logger.info("snapshot.created", { projectId, ...created, covered, pruned });
    } catch (error) {
      await fail(projectId, claim, error);
    }
    return true;
  };

  const fail = async (projectId: string, attempt: { attempts: number; opIndex: number | null }, error: unknown) => {
    const permanent = error instanceof PermanentError;
    const recorded = await recordFailure(db, projectId, attempt, error, clock.now()).catch((recordError) => {
      logger.error("snapshot.failureNotRecorded", { projectId, error: recordError });
      return undefined;
    });
    const retryAt = recorded ? recorded.retryAt.toDate().toISOString() : null;
    report.failed.push({ projectId, error: errorMessage(error), permanent, attempts: attempt.attempts, retryAt });
    logger.error("snapshot.failed", { projectId, error, permanent, attempts: attempt.attempts, retryAt });
  };

  if (options.projectId) {
    report.candidates = 1;
    await snapshotOne(options.projectId, options.force === true);
    return finish();
  }

  const { list, scan } = await findCandidates(db, rule, started, FETCH_FACTOR * batchSize);
  report.candidates = list.length;
  const leftUndone = new Set<string>();
  let places = batchSize;
  for (const { id, view, plan, scanned } of list) {
    if (plan.kind === "invalid") await fail(id, { attempts: (view.failure?.attempts ?? 0) + 1, opIndex: null }, plan.error);
    else if (plan.kind === "repair" && view.checkAfter !== undefined) {
      const repaired = await repairCounter(db, id, clock.now(), rule);
      if (repaired) report.repaired.push({ projectId: id, opsSinceSnapshot: repaired });
    } else if (plan.kind === "snapshot") {
      if (places === 0 || clock.now() - started >= TIME_BUDGET_MS) {
        report.deferred++;
        if (scanned) leftUndone.add(id);
      } else if (await snapshotOne(id, false)) places--;
    }
  }
  await advanceScanCursor(db, scan, leftUndone);
  report.complete = report.deferred === 0;
  if (report.repaired.length) logger.info("snapshots.countersRepaired", { projects: report.repaired.map((r) => r.projectId) });
  return finish();

  function finish(): SnapshotReport {
    report.durationMs = clock.now() - started;
    const { candidates, deferred, complete, durationMs } = report;
    logger.info("snapshots.completed", { candidates, created: report.created.length, skipped: report.skipped.length, repaired: report.repaired.length, failed: report.failed.length, deferred, complete, durationMs });
    return report;
  }
}

function skipReason(plan: Plan | "missing"): string {
  if (plan === "missing") return "missing";
  if (plan.kind === "wait") return `waiting until ${new Date(plan.untilMs).toISOString()} (backoff, or another run has it)`;
  if (plan.kind === "invalid") return `invalid: ${plan.error.message}`;
  return "not-due";
}
