import { FieldValue, Timestamp, type DocumentReference, type DocumentSnapshot } from "firebase-admin/firestore";
import { isConflict } from "../errors";
import { retryDelayMs } from "./backoff";

/**
 * The task doc's lifecycle writes, all optimistic: each is conditioned on the task's update time
 * as the worker last saw it, so of several workers racing for one task exactly one write lands,
 * and no transaction lock is ever held (a worker killed mid-task blocks nobody).
 * After the claim, `version` (the claim's own write time) is the fence: any later write of this
 * run lands only if nobody has touched the task since.
 */
export interface Claim {
  taskId: string;
  ref: DocumentReference;
  /** Unique per claim, recorded on the task for operators. */
  leaseOwner: string;
  attempt: number;
  /** The task's update time as this claim left it. */
  version: Timestamp;
}

export const DONE_TASK_RETENTION_MS = 7 * 24 * 3600_000;

const clearLease = { leaseOwner: FieldValue.delete(), leaseExpiresAt: FieldValue.delete() };


export async function claimTask(
  snap: DocumentSnapshot,
  leaseOwner: string,
  attempt: number,
  nowMs: number,
  leaseMs: number,
): Promise<Claim | undefined> {
  try {
    const write = await snap.ref.update(
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
    return { taskId: snap.id, ref: snap.ref, leaseOwner, attempt, version: write.writeTime };
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

/** `update` of the task that lands only while the claim still holds; false when it was taken over. */
async function whileClaimed(claim: Claim, fields: Record<string, unknown>): Promise<boolean> {
  try {
    await claim.ref.update(fields, { lastUpdateTime: claim.version });
    return true;
  } catch (error) {
    if (isConflict(error)) return false;
    throw error;
  }
}

/** Records a failed run: retried after a backoff, or a dead letter once attempts reach `maxAttempts`. */
export async function recordFailure(
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
  const owned = await whileClaimed(claim, { status: "failed", lastError: error, failedAt: Timestamp.fromMillis(nowMs), ...fields, ...clearLease });
  if (!owned) return "lease-lost";
  return dead ? "dead-letter" : "failed";
}

/** Hands an unfinished task back to the queue (shutdown): pending again, this run not counted. */
export async function releaseTask(claim: Claim): Promise<boolean> {
  return whileClaimed(claim, { status: "pending", attempts: claim.attempt - 1, ...clearLease });
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
