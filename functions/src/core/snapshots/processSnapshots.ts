import type { WorkerDeps } from "../deps";
import { errorMessage, isRejectedByFirestore, PermanentError } from "../errors";
import { advanceScanCursor, findCandidates, type Candidate } from "./candidates";
import { readProjectView, type DueRule, type Plan } from "./due";
import { failureRefOf } from "./failures";
import { claimProject, markHandled, moveTo, postponeRetry, repairCounter, setAside } from "./projectMarks";
import { projectRefOf, pruneSnapshots, snapshotProject } from "./snapshotProject";
import { RUN_TIME_BUDGET_MS } from "../limits";

/**
 * The snapshot worker (README "When, and in what order").
 *  - Every project a run reads from a candidate query leaves that query's window, whatever it
 *    finds: one not due is moved to the back, its counter repaired, its failure cleared, its retry
 *    postponed, or it is set aside as failing. This is done first, so that even a run cut short
 *    leaves the windows moving.
 *  - Then due projects are taken in queue order (oldest place first), up to `batchSize` snapshots
 *    a run; none starts once the time budget is spent, except the run's first, so every run takes
 *    at least one. Due projects left over stay first in line for the next run (`deferred`).
 *  - A failure (of the claim, the snapshot, or a mark) is recorded in the project's failure record
 *    with its reason and retried with backoff (1 h, doubling, at most 7 days), or sooner once the
 *    project changes. Nothing one project does stops the run.
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

/** No new snapshot starts after RUN_TIME_BUDGET_MS (but the run's first). */
/** Each candidate query reads up to this many times `batchSize`, so projects that are not due do not crowd out due ones. */
const FETCH_FACTOR = 4;

export async function processSnapshots(deps: WorkerDeps, options: SnapshotOptions = {}): Promise<SnapshotReport> {
  const { db, clock, config } = deps;
  const logger = deps.logger.child({ worker: "snapshots" });
  const rule: DueRule = { maxOps: options.maxOps ?? config.SNAPSHOT_MAX_OPS, maxHours: options.maxHours ?? config.SNAPSHOT_MAX_HOURS };
  const batchSize = options.batchSize ?? config.SNAPSHOT_BATCH_SIZE;
  const started = clock.now();
  const report: SnapshotReport = {
    candidates: 0,
    created: [],
    skipped: [],
    repaired: [],
    failed: [],
    deferred: 0,
    complete: true,
    durationMs: 0,
  };

  /** Records a failure (never throws: a record that cannot be written is logged). */
  const fail = async (projectId: string, attempt: { attempts?: number; opIndex: number | null }, error: unknown) => {
    const permanent = error instanceof PermanentError;
    let retryAt: string | null = null;
    let attempts = attempt.attempts ?? 0;
    try {
      const { record, notMoved } = await setAside(db, projectId, attempt, error, clock.now());
      ({ attempts } = record);
      retryAt = record.retryAt.toDate().toISOString();
      if (notMoved) logger.warn("snapshot.not_moved_back", { projectId, error: notMoved });
    } catch (recordError) {
      logger.error("snapshot.failure_not_recorded", { projectId, error: recordError });
    }
    report.failed.push({ projectId, error: errorMessage(error), permanent, attempts, retryAt });
    logger.error("snapshot.failed", { projectId, error, permanent, attempts, retryAt });
  };

  /** Moves a project that is not due out of the window it was read from. */
  const settle = async ({ id, view, failure, plan }: Candidate) => {
    const attempt = { opIndex: view.opIndex };
    try {
      if (plan.kind === "invalid") await fail(id, attempt, plan.error);
      else if (plan.kind === "none") await markHandled(db, id, clock.now(), view.checkAfter !== undefined);
      else if (plan.kind === "wait") {
        // Waiting for its failure's retry or for a later place: out of both windows until then.
        if (failure && failure.retryAt < plan.untilMs) await postponeRetry(db, id, plan.untilMs);
        if (view.checkAfter !== undefined && view.checkAfter < plan.untilMs) await moveTo(db, id, plan.untilMs);
      } else if (plan.kind === "repair") {
        const repaired = await repairCounter(db, id, clock.now(), rule);
        if (repaired) report.repaired.push({ projectId: id, opsSinceSnapshot: repaired });
      }
    } catch (error) {
      await fail(id, attempt, error);
    }
  };

  /** Claims and snapshots one project; true when it took a place in the batch. */
  const snapshotOne = async (projectId: string, force: boolean, opIndex: number | null): Promise<boolean> => {
    let claim;
    try {
      claim = await claimProject(db, projectId, clock.now(), rule, force);
    } catch (error) {
      // Typically a project doc that cannot take its place (at Firestore's size limit): set aside, takes no place.
      const claimError = isRejectedByFirestore(error)
        ? new PermanentError(`could not claim the project: ${errorMessage(error)}`, undefined, { cause: error })
        : error;
      await fail(projectId, { opIndex }, claimError);
      return false;
    }
    if (!claim.claimed) {
      report.skipped.push({ projectId, reason: skipReason(claim.plan) });
      return false;
    }
    try {
      const result = await snapshotProject(db, projectId, clock.now());
      if (result.status === "skipped") {
        if (result.reason === "missing") await failureRefOf(db, projectId).delete();
        else await markHandled(db, projectId, clock.now(), true);
        report.skipped.push({ projectId, reason: result.reason });
        return true;
      }
      const pruned = await pruneSnapshots(db, projectId, config.SNAPSHOT_KEEP).catch((error) => {
        logger.warn("snapshot.prune_failed", { projectId, error });
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

  if (options.projectId) {
    report.candidates = 1;
    const [doc] = await db.getAll(projectRefOf(db, options.projectId), { fieldMask: ["opIndex"] });
    await snapshotOne(options.projectId, options.force === true, doc.exists ? readProjectView(doc.data()!).opIndex : null);
    return finish();
  }

  const { list, scan, orphanFailures } = await findCandidates(db, rule, started, FETCH_FACTOR * batchSize);
  report.candidates = list.length;
  for (const id of orphanFailures) await failureRefOf(db, id).delete();
  for (const candidate of list) if (candidate.plan.kind !== "snapshot") await settle(candidate);

  const leftUndone = new Set<string>();
  let places = batchSize;
  for (const { id, view, plan, scanned } of list) {
    if (plan.kind !== "snapshot") continue;
    const budgetSpent = places < batchSize && clock.now() - started >= RUN_TIME_BUDGET_MS;
    if (places === 0 || budgetSpent) {
      report.deferred++;
      if (scanned) leftUndone.add(id);
    } else if (await snapshotOne(id, false, view.opIndex)) places--;
  }
  await advanceScanCursor(db, scan, leftUndone);
  report.complete = report.deferred === 0;
  if (report.repaired.length) logger.info("snapshots.counters_repaired", { projects: report.repaired.map((r) => r.projectId) });
  return finish();

  function finish(): SnapshotReport {
    report.durationMs = clock.now() - started;
    const { candidates, deferred, complete, durationMs } = report;
    logger.info("snapshots.completed", {
      candidates,
      created: report.created.length,
      skipped: report.skipped.length,
      repaired: report.repaired.length,
      failed: report.failed.length,
      deferred,
      complete,
      durationMs,
    });
    return report;
  }
}

function skipReason(plan: Plan | "missing"): string {
  if (plan === "missing") return "missing";
  if (plan.kind === "wait") return `waiting until ${new Date(plan.untilMs).toISOString()} (backoff, or another run has it)`;
  if (plan.kind === "invalid") return `invalid: ${plan.error.message}`;
  return "not-due";
}
