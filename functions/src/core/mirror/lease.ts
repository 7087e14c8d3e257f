import { FieldValue, Timestamp, type DocumentReference, type DocumentSnapshot, type Firestore } from "firebase-admin/firestore";
import { errorMessage, isConflict, isRejectedByFirestore } from "../errors";
import { DONE_TASK_RETENTION_MS } from "../limits";
import { retryDelayMs } from "./backoff";
import { docSize, largestFields, MAX_DOC_BYTES } from "./docSize";

/**
 * The task doc's lifecycle writes, all optimistic: each is conditioned on the task's update time
 * as the worker last saw it, so of several workers racing for one task exactly one write lands,
 * and no transaction lock is held on the task (a worker killed mid-task blocks nobody).
 * A claim is one of two kinds (claim.ts says which a task gets):
 * - "commit": nothing is written to claim the task; the commit that applies it (or records its
 *   failure) is conditioned on the task's update time as the query or event returned it.
 * - "lease": a write of its own marks the task `processing` until `leaseExpiresAt`, and counts the
 *   attempt before the run starts.
 * Either way `version` is the fence: any write of this run lands only if nobody has touched the
 * task since, so exactly one run's effect lands.
 */
export interface Claim {
  kind: "commit" | "lease";
  taskId: string;
  ref: DocumentReference;
  /** Unique per claim; a lease records it on the task for operators. */
  leaseOwner: string;
  attempt: number;
  /** The task's update time as this claim left it (a lease) or found it (a commit claim). */
  version: Timestamp;
}

/**
 * What a conditional write of the task came to: it landed, someone changed the task first, or
 * Firestore refused the write itself (the task is too large to take the workers' fields).
 */
export type TaskWrite<T = undefined> = { kind: "written"; value: T } | { kind: "conflict" } | { kind: "refused"; error: unknown };

async function conditional<T>(write: () => Promise<T>): Promise<TaskWrite<T>> {
  try {
    return { kind: "written", value: await write() };
  } catch (error) {
    if (isConflict(error)) return { kind: "conflict" };
    if (isRejectedByFirestore(error)) return { kind: "refused", error };
    throw error;
  }
}

const clearLease = { leaseOwner: FieldValue.delete(), leaseExpiresAt: FieldValue.delete() };

export async function claimTask(
  snap: DocumentSnapshot,
  leaseOwner: string,
  attempt: number,
  nowMs: number,
  leaseMs: number,
): Promise<TaskWrite<Claim>> {
  return conditional(async () => {
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
    return { kind: "lease", taskId: snap.id, ref: snap.ref, leaseOwner, attempt, version: write.writeTime };
  });
}

/** A claim that rides in the commit applying the task: nothing is written now. */
export function claimInCommit(snap: DocumentSnapshot, leaseOwner: string, attempt: number): Claim {
  return { kind: "commit", taskId: snap.id, ref: snap.ref, leaseOwner, attempt, version: snap.updateTime! };
}

const deadLetterFields = (error: string, attempts: number, nowMs: number) => ({
  status: "failed",
  deadLetter: true,
  lastError: error,
  attempts,
  failedAt: Timestamp.fromMillis(nowMs),
});

/** A failure nobody can fix by retrying (an invalid task, or one out of attempts), recorded without a claim. */
export async function markDeadLetter(snap: DocumentSnapshot, error: string, attempts: number, nowMs: number): Promise<TaskWrite> {
  return conditional(async () => {
    await snap.ref.update(
      { ...deadLetterFields(error, attempts, nowMs), nextAttemptAt: FieldValue.delete(), ...clearLease },
      { lastUpdateTime: snap.updateTime! },
    );
    return undefined;
  });
}

/**
 * Records a failed run: retried after a backoff, or a dead letter when it was permanent or
 * attempts reached `maxAttempts`. Lands only while the claim holds.
 */
export async function recordFailure(
  claim: Claim,
  error: string,
  permanent: boolean,
  nowMs: number,
  maxAttempts: number,
  random?: () => number,
): Promise<TaskWrite<"failed" | "dead-letter">> {
  const dead = permanent || claim.attempt >= maxAttempts;
  const fields = dead
    ? { deadLetter: true, nextAttemptAt: FieldValue.delete() }
    : { deadLetter: false, nextAttemptAt: Timestamp.fromMillis(nowMs + retryDelayMs(claim.attempt, random)) };
  return conditional(async () => {
    await claim.ref.update(
      { status: "failed", attempts: claim.attempt, lastError: error, failedAt: Timestamp.fromMillis(nowMs), ...fields, ...clearLease },
      { lastUpdateTime: claim.version },
    );
    return dead ? "dead-letter" : "failed";
  });
}

/**
 * Hands an unfinished task back to the queue (shutdown): pending again, this run not counted. The
 * write moves the task's update time (`releasedAt` changes it even when nothing else does: a commit
 * claim's task is still `pending`, and a write that changes nothing keeps the update time), so this
 * run's commit, if it is still on its way, fails its fence.
 */
export async function releaseTask(claim: Claim): Promise<boolean> {
  const fields = { status: "pending", attempts: claim.attempt - 1, releasedAt: FieldValue.serverTimestamp(), ...clearLease };
  const result = await conditional(() => claim.ref.update(fields, { lastUpdateTime: claim.version }));
  return result.kind === "written";
}

/** The `done` mark; a commit claim's also records the attempt and when it was claimed (the same commit). */
export function doneFields(nowMs: number, outcome: string, claim: Claim): Record<string, unknown> {
  return {
    status: "done",
    outcome,
    attempts: claim.attempt,
    ...(claim.kind === "commit" ? { claimedAt: Timestamp.fromMillis(nowMs), nextAttemptAt: FieldValue.delete() } : {}),
    completedAt: Timestamp.fromMillis(nowMs),
    // A Firestore TTL policy on mirrorQueue.expireAt deletes done tasks after a week.
    expireAt: Timestamp.fromMillis(nowMs + DONE_TASK_RETENTION_MS),
    lastError: FieldValue.delete(),
    deadLetter: FieldValue.delete(),
    ...clearLease,
  };
}

/** A document this close to the limit cannot take the workers' fields (a claim adds about 150 bytes). */
const NEAR_LIMIT_BYTES = 1024;

/**
 * A field name of the app's as a key of `removedFields`: itself up to 100 UTF-16 units, else cut to
 * 99 and marked "…". A cut name ends with "…", so it is never one Firestore reserves (`__…__`), and
 * is never cut between the halves of a surrogate pair (a lone half is no valid UTF-8: the client
 * sends it as U+FFFD, and the label would name a field the app never wrote).
 */
function fieldLabel(name: string): string {
  if (name.length <= 100) return name;
  const cut = name.slice(0, 99);
  return `${/[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut}…`;
}

/** Fields a set-aside task keeps: what identifies it, when each is small. */
const KEPT_FIELDS = ["op", "uid", "historyId", "createdAt"];
const KEPT_FIELD_MAX_BYTES = 2048;

/**
 * A task Firestore will not let the workers write to (a document within a few hundred bytes of
 * 1 MiB cannot take a claim or a failure mark) is set aside as a dead letter: its doc is replaced,
 * in a transaction conditioned on its update time, by its identifying fields, the failure and the
 * size of each field removed to make room. Its payload was never usable: an upsert publishes from
 * the source, and an update that large could not be mirrored.
 * `set` is false when the task changed since `snap` was read (nothing written); `error` is its lastError.
 */
export async function setAside(
  db: Firestore,
  snap: DocumentSnapshot,
  cause: unknown,
  attempts: number,
  nowMs: number,
): Promise<{ set: boolean; error: string }> {
  const data = snap.data() ?? {};
  const bytes = docSize(snap.ref.path, data);
  const why =
    bytes > MAX_DOC_BYTES - NEAR_LIMIT_BYTES
      ? `the task document is too large for the workers to record anything on it (${bytes.toLocaleString("en-US")} bytes of Firestore's 1,048,576; largest fields: ${largestFields(data)})`
      : `Firestore refused the workers' write to the task document (${bytes.toLocaleString("en-US")} bytes; largest fields: ${largestFields(data)})`;
  const error = `${why}: set aside as a dead letter, payload removed (Firestore said: ${errorMessage(cause)})`;
  const kept = Object.fromEntries(
    KEPT_FIELDS.filter((f) => f in data && docSize("x", { [f]: data[f] }) <= KEPT_FIELD_MAX_BYTES).map((f) => [f, data[f]]),
  );
  const removedFields = Object.fromEntries(
    Object.keys(data)
      .filter((f) => !(f in kept))
      .slice(0, 50)
      .map((f) => [fieldLabel(f), docSize("x", { [f]: data[f] })]),
  );
  const set = await db.runTransaction(async (tx) => {
    const current = await tx.get(snap.ref);
    if (!current.exists || !current.updateTime!.isEqual(snap.updateTime!)) return false;
    tx.set(snap.ref, { ...kept, ...deadLetterFields(error, attempts, nowMs), removedFields, originalBytes: bytes });
    return true;
  });
  return { set, error };
}
