import { FieldValue, Timestamp, type DocumentReference, type DocumentSnapshot, type Firestore } from "firebase-admin/firestore";
import { retryDelayMs } from "./backoff";

/**
 * The task doc's lifecycle writes. Claiming is an optimistic write conditioned on the task's
 * update time as the worker read it: of several workers racing for one task exactly one write
 * lands, without transaction locks. Everything after the claim is fenced by `leaseOwner`.
 */
export interface Claim {
  taskId: string;
  ref: DocumentReference;
  /** Unique per claim; the fence every later write of this run checks. */
  leaseOwner: string;
  attempt: number;
}

export const DONE_TASK_RETENTION_MS = 7 * 24 * 3600_000;

const clearLease = { leaseOwner: FieldValue.delete(), leaseExpiresAt: FieldValue.delete() };

/** Firestore's answers to a failed precondition, a create over an existing doc, an update of a missing one. */
export function isConflict(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === 9 || code === 6 || code === 5 || code === "failed-precondition" || code === "already-exists" || code === "not-found";
}

export async function claimTask(
  snap: DocumentSnapshot,
  leaseOwner: string,
  attempt: number,
  nowMs: number,
  leaseMs: number,
): Promise<Claim | undefined> {
  try {
    await snap.ref.update(
      {
        status: "processing",
        attempts: attempt,
        leaseOwner,
        leaseExpiresAt: Timestamp.fromMillis(nowMs + leaseMs),
        claimedAt: Timestamp.fromMillis(nowMs),
        nextAttemptAt: FieldValue.delete(),
      },
      { lastUpdateTime: snap.updateTime! },
    );
    return { taskId: snap.id, ref: snap.ref, leaseOwner, attempt };
  } catch (error) {
    if (isConflict(error)) return undefined;
    throw error;
  }
}

/** A failure nobody can fix by retrying: an invalid payload, or a task that exhausted its attempts. */
export async function markDeadLetter(snap: DocumentSnapshot, error: string, attempts: number, nowMs: number): Promise<boolean> {
  try {
    await snap.ref.update(
      { status: "failed", deadLetter: true, lastError: error, attempts, failedAt: Timestamp.fromMillis(nowMs), nextAttemptAt: FieldValue.delete(), ...clearLease },
      { lastUpdateTime: snap.updateTime! },
    );
    return true;
  } catch (e) {
    if (isConflict(e)) return false;
    throw e;
  }
}

async function whileOwned(db: Firestore, claim: Claim, write: (tx: FirebaseFirestore.Transaction) => void): Promise<boolean> {
  return db.runTransaction(async (tx) => {
    const current = await tx.get(claim.ref);
    if (!current.exists || current.get("leaseOwner") !== claim.leaseOwner || current.get("status") !== "processing") return false;
    write(tx);
    return true;
  });
}

/** Records a failed run: retried after a backoff, or a dead letter once attempts reach `maxAttempts`. */
export async function recordFailure(
  db: Firestore,
  claim: Claim,
  error: string,
  nowMs: number,
  maxAttempts: number,
  random?: () => number,
): Promise<"failed" | "dead-letter" | "lease-lost"> {
  const dead = claim.attempt >= maxAttempts;
  const fields = dead
    ? { deadLetter: true, nextAttemptAt: FieldValue.delete() }
    : { deadLetter: false, nextAttemptAt: Timestamp.fromMillis(nowMs + retryDelayMs(claim.attempt, random)) };
  const owned = await whileOwned(db, claim, (tx) =>
    tx.update(claim.ref, { status: "failed", lastError: error, failedAt: Timestamp.fromMillis(nowMs), ...fields, ...clearLease }),
  );
  if (!owned) return "lease-lost";
  return dead ? "dead-letter" : "failed";
}

/** Hands an unfinished task back to the queue (shutdown): pending again, this run not counted. */
export async function releaseTask(db: Firestore, claim: Claim): Promise<boolean> {
  return whileOwned(db, claim, (tx) => tx.update(claim.ref, { status: "pending", attempts: claim.attempt - 1, ...clearLease }));
}

export function doneFields(nowMs: number, outcome: string): Record<string, unknown> {
  return {
    status: "done",
    outcome,
    completedAt: Timestamp.fromMillis(nowMs),
    // A Firestore TTL policy on mirrorQueue.expireAt deletes done tasks after a week.
    expireAt: Timestamp.fromMillis(nowMs + DONE_TASK_RETENTION_MS),
    lastError: FieldValue.delete(),
    deadLetter: FieldValue.delete(),
    ...clearLease,
  };
}
