import { FieldValue, Timestamp, type Firestore } from "firebase-admin/firestore";
import { errorMessage, firestoreCode, GrpcStatus, PermanentError } from "../errors";
import { planProject, readProjectView, retryDelayMs, WORKER_FIELDS, type DueRule, type Plan, type SnapshotFailure } from "./due";
import { projectRefOf } from "./snapshotProject";

/**
 * The snapshot worker's marks on a project doc (`snapshotCheckAfter`, `snapshotFailure`).
 * Every write is an update or a transaction that finds the doc: a deleted project is never
 * re-created by a mark.
 */

/** What a claim writes as the failure until the snapshot commits: a run that dies leaves it, and the project is retried after the backoff. */
export const INTERRUPTED = "the snapshot did not finish (the run stopped, or is still running)";
const MAX_ERROR_CHARS = 1000;

const ignoreMissing = (error: unknown) => {
  if (firestoreCode(error) !== GrpcStatus.NOT_FOUND) throw error;
};

function failureFields(f: Omit<SnapshotFailure, "failedAt" | "retryAt">, nowMs: number) {
  const retryAt = Timestamp.fromMillis(nowMs + retryDelayMs(f.attempts));
  const failure: SnapshotFailure = { ...f, error: f.error.slice(0, MAX_ERROR_CHARS), failedAt: Timestamp.fromMillis(nowMs), retryAt };
  return { [WORKER_FIELDS.checkAfter]: retryAt, [WORKER_FIELDS.failure]: failure };
}

export type Claim = { claimed: true; attempts: number; opIndex: number } | { claimed: false; plan: Plan | "missing" };

/**
 * Takes a project for this run if, read afresh, it still needs a snapshot: pushes it back in the
 * queue by one backoff step and records it as not finished, so neither a concurrent run nor a run
 * after this one dies takes it again before the backoff.
 */
export async function claimProject(db: Firestore, projectId: string, nowMs: number, rule: DueRule, force: boolean): Promise<Claim> {
  const ref = projectRefOf(db, projectId);
  return db.runTransaction(async (tx): Promise<Claim> => {
    const doc = await tx.get(ref);
    if (!doc.exists) return { claimed: false, plan: "missing" };
    const view = readProjectView(doc.data()!);
    const plan = planProject(view, nowMs, rule, force);
    if (plan.kind !== "snapshot") return { claimed: false, plan };
    const attempts = (view.failure?.attempts ?? 0) + 1;
    const opIndex = view.opIndex!;
    tx.update(ref, failureFields({ error: INTERRUPTED, permanent: false, attempts, opIndex }, nowMs));
    return { claimed: true, attempts, opIndex };
  });
}

/** Records a failed attempt: the reason, whether it is permanent, and when to retry. */
export async function recordFailure(db: Firestore, projectId: string, attempt: { attempts: number; opIndex: number | null }, error: unknown, nowMs: number) {
  const permanent = error instanceof PermanentError;
  const fields = failureFields({ error: errorMessage(error), permanent, ...attempt }, nowMs);
  await projectRefOf(db, projectId).update(fields).catch(ignoreMissing);
  return { permanent, attempts: attempt.attempts, retryAt: (fields[WORKER_FIELDS.failure] as SnapshotFailure).retryAt };
}

/** Handled without a failure (nothing to snapshot, or another run's snapshot covers it): back of the queue. */
export async function markHandled(db: Firestore, projectId: string, nowMs: number): Promise<void> {
  await projectRefOf(db, projectId)
    .update({ [WORKER_FIELDS.checkAfter]: Timestamp.fromMillis(nowMs), [WORKER_FIELDS.failure]: FieldValue.delete() })
    .catch(ignoreMissing);
}

/**
 * Sets `opsSinceSnapshot` to `opIndex - lastSnapshotOpIndex` when, read afresh, the counter is
 * wrong and there is nothing to snapshot; the project goes to the back of the queue.
 * Returns the change, or undefined when the project changed meanwhile (it is then simply due).
 */
export async function repairCounter(db: Firestore, projectId: string, nowMs: number, rule: DueRule) {
  const ref = projectRefOf(db, projectId);
  return db.runTransaction(async (tx) => {
    const doc = await tx.get(ref);
    if (!doc.exists) return undefined;
    const view = readProjectView(doc.data()!);
    const plan = planProject(view, nowMs, rule);
    if (plan.kind !== "repair") return undefined;
    tx.update(ref, { opsSinceSnapshot: plan.opsSinceSnapshot, [WORKER_FIELDS.checkAfter]: Timestamp.fromMillis(nowMs) });
    return { from: view.opsSinceSnapshot ?? null, to: plan.opsSinceSnapshot };
  });
}
