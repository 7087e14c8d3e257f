import { Timestamp, type Firestore } from "firebase-admin/firestore";
import { errorMessage, firestoreCode, GrpcStatus, PermanentError } from "../errors";
import { CHECK_AFTER, planProject, readProjectView, type DueRule, type Plan } from "./due";
import { failureRecord, failureRefOf, readFailureView, type SnapshotFailure } from "./failures";
import { projectRefOf } from "./snapshotProject";

/**
 * The snapshot worker's marks: the project's place in the queue (`snapshotCheckAfter`, on the
 * project doc) and its failure record (worker-private, failures.ts). A project doc gets only
 * `snapshotCheckAfter`, as an update that finds the doc (a deleted project is never re-created by
 * a mark); a doc that cannot take it (at Firestore's size limit, never handled) is in no query
 * that orders by it, and its failure record alone brings it back.
 */

/** What a claim records as the failure until the snapshot commits: a run that dies leaves it, and the project is retried after the backoff. */
export const INTERRUPTED = "the snapshot did not finish (the run stopped, or is still running)";

const isMissing = (error: unknown) => firestoreCode(error) === GrpcStatus.NOT_FOUND;

export type Claim = { claimed: true; attempts: number; opIndex: number } | { claimed: false; plan: Plan | "missing" };

/**
 * Takes a project for this run if, read afresh, it still needs a snapshot: records it as not
 * finished and moves its place to the end of one more backoff step, so neither a concurrent run
 * nor a run after this one dies takes it again before the backoff.
 * Throws when the project doc cannot take the move (see setAside).
 */
export async function claimProject(db: Firestore, projectId: string, nowMs: number, rule: DueRule, force: boolean): Promise<Claim> {
  const ref = projectRefOf(db, projectId);
  const failureRef = failureRefOf(db, projectId);
  return db.runTransaction(async (tx): Promise<Claim> => {
    const [doc, failureDoc] = await tx.getAll(ref, failureRef);
    if (!doc.exists) return { claimed: false, plan: "missing" };
    const view = readProjectView(doc.data()!);
    const failure = failureDoc.exists ? readFailureView(failureDoc.data()!) : undefined;
    const plan = planProject(view, nowMs, rule, { force, failure });
    if (plan.kind !== "snapshot") return { claimed: false, plan };
    const attempts = (failure?.attempts ?? 0) + 1;
    const opIndex = view.opIndex!;
    const record = failureRecord({ error: INTERRUPTED, permanent: false, attempts, opIndex }, nowMs);
    tx.set(failureRef, record);
    tx.update(ref, { [CHECK_AFTER]: record.retryAt });
    return { claimed: true, attempts, opIndex };
  });
}

export interface SetAside {
  record: SnapshotFailure;
  /** Why the project doc did not take its new place (the record was written all the same). */
  notMoved?: unknown;
}

/**
 * Records a failed attempt (the reason, whether it is permanent, when to retry) and moves the
 * project's place to its retry. `attempts`: this attempt's number, or undefined for one more than
 * the record says. The record is written first and always fits; the project doc's move can fail
 * only for a doc that had no place yet, which no query's window holds.
 */
export async function setAside(
  db: Firestore,
  projectId: string,
  attempt: { attempts?: number; opIndex: number | null },
  error: unknown,
  nowMs: number,
): Promise<SetAside> {
  const failureRef = failureRefOf(db, projectId);
  const record = await db.runTransaction(async (tx) => {
    const previous = attempt.attempts === undefined ? await tx.get(failureRef) : undefined;
    const attempts = attempt.attempts ?? (previous?.exists ? readFailureView(previous.data()!).attempts : 0) + 1;
    const failure = failureRecord(
      { error: errorMessage(error), permanent: error instanceof PermanentError, attempts, opIndex: attempt.opIndex },
      nowMs,
    );
    tx.set(failureRef, failure);
    return failure;
  });
  try {
    await projectRefOf(db, projectId).update({ [CHECK_AFTER]: record.retryAt });
    return { record };
  } catch (notMoved) {
    // A project deleted meanwhile leaves no record behind.
    if (isMissing(notMoved)) await failureRef.delete();
    return { record, notMoved: isMissing(notMoved) ? undefined : notMoved };
  }
}

/** Moves a project's place (a deleted project stays deleted). */
export async function moveTo(db: Firestore, projectId: string, atMs: number): Promise<void> {
  await projectRefOf(db, projectId)
    .update({ [CHECK_AFTER]: Timestamp.fromMillis(atMs) })
    .catch((error) => {
      if (!isMissing(error)) throw error;
    });
}

/**
 * Handled without a failure (nothing to snapshot, or another run's snapshot covers it): no longer
 * failing, and, if it has a place, at the back of the queue.
 */
export async function markHandled(db: Firestore, projectId: string, nowMs: number, hasPlace: boolean): Promise<void> {
  await failureRefOf(db, projectId).delete();
  if (hasPlace) await moveTo(db, projectId, nowMs);
}

/** A failing project whose retry came while it waits for a later place (another run has it): its retry moves to that place. */
export async function postponeRetry(db: Firestore, projectId: string, untilMs: number): Promise<void> {
  await failureRefOf(db, projectId).update({ retryAt: Timestamp.fromMillis(untilMs) });
}

/**
 * Sets `opsSinceSnapshot` to `opIndex - lastSnapshotOpIndex` when, read afresh, the counter is
 * wrong and there is nothing to snapshot; the project is no longer failing and goes to the back of
 * the queue. Returns the change (`from`: null when it was absent or not a finite number), or
 * undefined when the project changed meanwhile (it is then simply due).
 */
export async function repairCounter(db: Firestore, projectId: string, nowMs: number, rule: DueRule) {
  const ref = projectRefOf(db, projectId);
  return db.runTransaction(async (tx) => {
    const doc = await tx.get(ref);
    if (!doc.exists) return undefined;
    const view = readProjectView(doc.data()!);
    const plan = planProject(view, nowMs, rule);
    if (plan.kind !== "repair") return undefined;
    tx.update(ref, { opsSinceSnapshot: plan.opsSinceSnapshot, [CHECK_AFTER]: Timestamp.fromMillis(nowMs) });
    tx.delete(failureRefOf(db, projectId));
    const from = view.opsSinceSnapshot;
    return { from: from !== undefined && Number.isFinite(from) ? from : null, to: plan.opsSinceSnapshot };
  });
}
