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
import type { Doc, FieldIssue } from "./publicFields";
import type { MirrorTask } from "./task";

/**
 * Applies a claimed task in one read-write transaction: it reads the source item and the mirror
 * doc, plans, and commits the mirror change, the signup cache's change (when the item is listed
 * there) and the task's `done` mark together. The transaction fences the source: if the item
 * changes (say, made private) between the read and the commit, Firestore retries the transaction
 * with the new state, so a stale read can never publish a private item. The `done` mark is
 * conditioned on the task being unchanged since the claim: a worker whose lease was taken over
 * commits nothing.
 */
export class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

export interface Applied {
  outcome: Outcome;
  /** Source fields left out of the mirror for their type. */
  dropped: FieldIssue[];
}

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

function writeChange(tx: Transaction, ref: DocumentReference, change: MirrorChange, after: Doc | undefined): void {
  if (change.kind === "none") return;
  if (change.kind === "delete") {
    tx.delete(ref);
    writeOwnerTombstone(tx, ref, change.owner);
    return;
  }
  const bytes = docSize(ref.path, { ...after, mirroredAt: FieldValue.serverTimestamp() });
  if (bytes > MAX_DOC_BYTES) {
    throw new PermanentError(`the mirror doc ${ref.path} would be ${bytes.toLocaleString("en-US")} bytes, over Firestore's 1 MiB limit (largest fields: ${largestFields(after!)})`, "source");
  }
  if (change.kind === "set") tx.set(ref, { ...change.data, mirroredAt: FieldValue.serverTimestamp() });
  else tx.update(ref, { ...change.data, ...Object.fromEntries(change.clear.map((f) => [f, FieldValue.delete()])), mirroredAt: FieldValue.serverTimestamp() });
}

/** `signal`: once aborted, the apply makes no further transaction attempt and writes nothing. */
export async function applyTask(db: Firestore, claim: Claim, task: MirrorTask, clock: Clock, signal?: AbortSignal): Promise<Applied> {
  const refs = {
    source: db.doc(historyItemPath(task.uid, task.historyId)),
    mirror: db.collection(COLLECTIONS.publicGenerations).doc(task.historyId),
    user: db.collection(COLLECTIONS.users).doc(task.uid),
    cache: db.collection(COLLECTIONS.signupImageCache).doc(SIGNUP_CACHE_DOC),
  };
  try {
    return await db.runTransaction(async (tx) => {
      signal?.throwIfAborted();
      // The profile is read outside the transaction: createdBy need not be fenced, and the user's
      // own writes to their profile should never wait on a worker's lock.
      const [[sourceSnap, mirrorSnap], userSnap] = await Promise.all([tx.getAll(refs.source, refs.mirror), task.op === "upsert" ? refs.user.get() : undefined]);
      const source = dataOf(sourceSnap);
      const mirror = dataOf(mirrorSnap);
      const plan = planMirrorWrite({ taskId: claim.taskId, task, source, mirror, user: needsProfile(task, source) ? dataOf(userSnap) : undefined });
      const after = mirrorAfter(mirror, plan.change);
      if (touchesSignupCache(mirror, after)) {
        const next = followMirror(dataOf(await tx.get(refs.cache)), task.historyId, after);
        if (next) tx.set(refs.cache, next);
      }
      signal?.throwIfAborted();
      writeChange(tx, refs.mirror, plan.change, after);
      tx.update(claim.ref, doneFields(clock.now(), plan.outcome), { lastUpdateTime: claim.version });
      return { outcome: plan.outcome, dropped: plan.dropped };
    });
  } catch (error) {
    if (isConflict(error)) {
      const current = await claim.ref.get();
      if (!current.updateTime?.isEqual(claim.version)) throw new LeaseLostError("the task changed since it was claimed", { cause: error });
    }
    if (isRejectedByFirestore(error)) throw new PermanentError(`Firestore refused to apply the task: ${errorMessage(error)}`, undefined, { cause: error });
    throw error;
  }
}
