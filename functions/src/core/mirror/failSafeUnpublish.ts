import type { DocumentData, Firestore } from "firebase-admin/firestore";
import { COLLECTIONS, historyItemPath } from "../collections";
import { followMirror, SIGNUP_CACHE_DOC } from "../signupCache/cacheEntries";
import { writeOwnerTombstone } from "./ownerTombstone";
import { isPublishable, type Doc } from "./publicFields";
import { parseTaskKey } from "./task";

/**
 * The fail-safe unpublish: the source decides, even when the task cannot be applied. A task whose
 * `uid` and `historyId` are valid ids names a source item; when that item is missing, deleted or
 * not public, the uid's mirror doc is removed (with its signup cache entries and an owner
 * tombstone), whatever the task's other fields say. The workers run it before they set a task
 * aside as invalid or out of attempts, and the audit runs it for dead letters (deadLetterCheck.ts),
 * so no refused or failed task can leave a private item public.
 *
 * Removing is always safe: the mirror is a copy the source can rebuild (the next upsert or
 * `mirror backfill`). The mirror doc must carry the task's uid: a doc of another user, or one
 * without a uid, is left alone (its owner's source is not the one this task names).
 */
export type FailSafeResult = "unpublished" | "public" | "absent" | "not-owner" | "no-key";

/** Pure: whether the mirror doc goes, given the source and mirror read together. */
export function failSafeDecision(
  uid: string,
  source: Doc | undefined,
  mirror: Doc | undefined,
): Exclude<FailSafeResult, "no-key"> | "remove" {
  if (!mirror) return "absent";
  if (mirror.uid !== uid) return "not-owner";
  return isPublishable(source) ? "public" : "remove";
}

/** One read-write transaction: source and mirror (2 reads), the cache when the mirror goes (1 read), and the deletes. */
export async function unpublishIfNotPublic(db: Firestore, uid: string, historyId: string): Promise<Exclude<FailSafeResult, "no-key">> {
  const source = db.doc(historyItemPath(uid, historyId));
  const mirror = db.collection(COLLECTIONS.publicGenerations).doc(historyId);
  const cache = db.collection(COLLECTIONS.signupImageCache).doc(SIGNUP_CACHE_DOC);
  return db.runTransaction(async (tx) => {
    const [sourceSnap, mirrorSnap] = await tx.getAll(source, mirror);
    const decision = failSafeDecision(uid, sourceSnap.data(), mirrorSnap.data());
    if (decision !== "remove") return decision;
    const next = followMirror((await tx.get(cache)).data(), historyId, undefined);
    if (next) tx.set(cache, next);
    tx.delete(mirror);
    writeOwnerTombstone(tx, mirror, uid);
    return "unpublished";
  });
}

/** The fail-safe unpublish for a task doc's data, when its key is valid. */
export async function unpublishForTask(db: Firestore, data: DocumentData): Promise<FailSafeResult> {
  const key = parseTaskKey(data);
  return key ? unpublishIfNotPublic(db, key.uid, key.historyId) : "no-key";
}
