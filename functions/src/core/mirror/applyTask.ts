import { isDeepStrictEqual } from "node:util";
import { FieldValue, type DocumentReference, type DocumentSnapshot, type Firestore, type Transaction } from "firebase-admin/firestore";
import type { Clock } from "../clock";
import { COLLECTIONS, historyItemPath } from "../collections";
import { errorMessage, isConflict, isRejectedByFirestore, PermanentError } from "../errors";
import { followMirror, SIGNUP_CACHE_DOC } from "../signupCache/cacheEntries";
import { docSize, largestFields, MAX_DOC_BYTES } from "./docSize";
import { doneFields, type Claim } from "./lease";
import { writeOwnerTombstone } from "./ownerTombstone";
import { needsProfile, planMirrorWrite, type MirrorChange, type Outcome } from "./plan";
import type { ProfileCache } from "./profiles";
import type { Doc, FieldIssue } from "./publicFields";
import type { MirrorTask } from "./task";

/**
 * Applies claimed tasks in one read-write transaction: one read of every task's source item and
 * mirror doc (the owners' profiles beside it, outside the transaction, from `profiles`), a plan
 * per task, and one commit of the mirror changes, the signup cache's change (when the cache lists
 * an item) and each task's `done` mark. The transaction fences the sources: if an item changes
 * (say, made private) between the read and the commit, Firestore retries the transaction with the
 * new state, so a stale read can never publish a private item. Each `done` mark is conditioned on
 * its task being unchanged since the claim: if any task was taken by another worker, the whole
 * commit fails and nothing of it lands (the caller sorts out which task it was).
 *
 * The tasks of one call must name distinct mirror docs. A task whose plan fails for good (another
 * user's item, a mirror doc over 1 MiB) is left out of the commit and returned as its error; the
 * others go on.
 */
export class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

export interface Applied {
  outcome: Outcome;
  /** Source fields left out of the mirror for their type. */
  dropped: FieldIssue[];
}

export interface ClaimedTask {
  claim: Claim;
  task: MirrorTask;
}

export type TaskApplied = { ok: true; applied: Applied } | { ok: false; error: PermanentError };

const dataOf = (snap: DocumentSnapshot | undefined): Doc | undefined => (snap?.exists ? snap.data() : undefined);

function mirrorAfter(before: Doc | undefined, change: MirrorChange): Doc | undefined {
  switch (change.kind) {
    case "set":
      return change.data;
    case "update": {
      const after = { ...before, ...change.data };
      for (const field of change.clear) delete after[field];
      return after;
    }
    case "delete":
      return undefined;
    case "none":
      return before;
  }
}

/** Whether the change can alter what the signup cache shows of this item. */
function touchesSignupCache(before: Doc | undefined, after: Doc | undefined): boolean {
  if (!before) return false;
  if (!after) return true;
  return !isDeepStrictEqual(before.images, after.images) || before.aestheticScore !== after.aestheticScore;
}

interface Planned {
  entry: ClaimedTask;
  mirrorRef: DocumentReference;
  change: MirrorChange;
  before: Doc | undefined;
  after: Doc | undefined;
  applied: Applied;
}

function checkSize(ref: DocumentReference, change: MirrorChange, after: Doc | undefined): void {
  if (change.kind !== "set" && change.kind !== "update") return;
  const bytes = docSize(ref.path, { ...after, mirroredAt: FieldValue.serverTimestamp() });
  if (bytes > MAX_DOC_BYTES) {
    throw new PermanentError(
      `the mirror doc ${ref.path} would be ${bytes.toLocaleString("en-US")} bytes, over Firestore's 1 MiB limit (largest fields: ${largestFields(after!)})`,
      "source",
    );
  }
}

function writeChange(tx: Transaction, ref: DocumentReference, change: MirrorChange): void {
  const stamp = { mirroredAt: FieldValue.serverTimestamp() };
  if (change.kind === "delete") {
    tx.delete(ref);
    writeOwnerTombstone(tx, ref, change.owner);
  } else if (change.kind === "set") tx.set(ref, { ...change.data, ...stamp });
  else if (change.kind === "update")
    tx.update(ref, { ...change.data, ...Object.fromEntries(change.clear.map((f) => [f, FieldValue.delete()])), ...stamp });
}

/** One task's plan from what was read; a plan that fails for good is that task's result alone. */
function planOne(
  db: Firestore,
  entry: ClaimedTask,
  source: Doc | undefined,
  mirror: Doc | undefined,
  user: Doc | undefined,
): Planned | PermanentError {
  const { task, claim } = entry;
  const mirrorRef = db.collection(COLLECTIONS.publicGenerations).doc(task.historyId);
  try {
    const plan = planMirrorWrite({ taskId: claim.taskId, task, source, mirror, user: needsProfile(task, source) ? user : undefined });
    const after = mirrorAfter(mirror, plan.change);
    checkSize(mirrorRef, plan.change, after);
    return { entry, mirrorRef, change: plan.change, before: mirror, after, applied: { outcome: plan.outcome, dropped: plan.dropped } };
  } catch (error) {
    if (error instanceof PermanentError) return error;
    throw error;
  }
}

/** `signal`: once aborted, the apply makes no further transaction attempt and writes nothing. */
export async function applyTasks(
  db: Firestore,
  entries: ClaimedTask[],
  clock: Clock,
  profiles: ProfileCache,
  signal?: AbortSignal,
): Promise<TaskApplied[]> {
  const reads = entries.flatMap(({ task }) => [
    db.doc(historyItemPath(task.uid, task.historyId)),
    db.collection(COLLECTIONS.publicGenerations).doc(task.historyId),
  ]);
  const cacheRef = db.collection(COLLECTIONS.signupImageCache).doc(SIGNUP_CACHE_DOC);
  const owners = entries.filter((e) => e.task.op === "upsert").map((e) => e.task.uid);
  return db.runTransaction(async (tx) => {
    signal?.throwIfAborted();
    const [snaps, users] = await Promise.all([tx.getAll(...reads), profiles.get(db, owners, clock.now())]);
    const planned = entries.map((entry, i) =>
      planOne(db, entry, dataOf(snaps[2 * i]), dataOf(snaps[2 * i + 1]), users.get(entry.task.uid)),
    );
    const ok = planned.filter((p): p is Planned => !(p instanceof PermanentError));
    const touching = ok.filter((p) => touchesSignupCache(p.before, p.after));
    if (touching.length) {
      // One read and at most one write of the cache for the whole group, each change applied in turn.
      const cache = dataOf(await tx.get(cacheRef));
      const next = touching.reduce<Doc | undefined>(
        (current, p) => followMirror(current ?? cache, p.entry.task.historyId, p.after) ?? current,
        undefined,
      );
      if (next) tx.set(cacheRef, next);
    }
    signal?.throwIfAborted();
    const nowMs = clock.now();
    for (const p of ok) {
      writeChange(tx, p.mirrorRef, p.change);
      tx.update(p.entry.claim.ref, doneFields(nowMs, p.applied.outcome, p.entry.claim), { lastUpdateTime: p.entry.claim.version });
    }
    return planned.map((p): TaskApplied => (p instanceof PermanentError ? { ok: false, error: p } : { ok: true, applied: p.applied }));
  });
}

/**
 * One leased task, alone. Throws its PermanentError; a LeaseLostError when the commit failed
 * because the task changed since the claim (another worker took it over); a PermanentError when
 * Firestore refused the commit itself.
 */
export async function applyTask(
  db: Firestore,
  claim: Claim,
  task: MirrorTask,
  clock: Clock,
  profiles: ProfileCache,
  signal?: AbortSignal,
): Promise<Applied> {
  try {
    const [result] = await applyTasks(db, [{ claim, task }], clock, profiles, signal);
    if (!result.ok) throw result.error;
    return result.applied;
  } catch (error) {
    if (isConflict(error)) {
      const current = await claim.ref.get();
      if (!current.updateTime?.isEqual(claim.version)) throw new LeaseLostError("the task changed since it was claimed", { cause: error });
    }
    if (isRejectedByFirestore(error))
      throw new PermanentError(`Firestore refused to apply the task: ${errorMessage(error)}`, undefined, { cause: error });
    throw error;
  }
}
