import { FieldPath, Timestamp, type Firestore } from "firebase-admin/firestore";
import { COLLECTIONS, historyItemPath } from "../collections";
import { failSafeDecision, unpublishIfNotPublic } from "./failSafeUnpublish";
import { parseTaskKey } from "./task";

/**
 * The backstop for unpublishing: a task that became a dead letter (out of attempts after transient
 * failures, or refused) must not leave its item public when the source says it is not. With the
 * audit (dueTasks.ts), at most once a minute per finder, a page of dead letters is re-checked
 * against their sources, in document-id order from a cursor in `workerState/mirrorDeadLetterCheck`
 * that wraps at the end: every dead letter is checked once per lap of the dead letters. A page
 * costs 1 read per dead letter plus 2 per item (source and mirror, read together); an item whose
 * source is not public and whose mirror doc is the task uid's is unpublished (failSafeUnpublish.ts).
 * A dead letter stays a dead letter: only its item is unpublished.
 */
export const DEAD_LETTER_CHECK_PAGE = 50;
export const DEAD_LETTER_CHECK_DOC = "mirrorDeadLetterCheck";

export interface DeadLetterCheck {
  checked: number;
  unpublished: number;
  /** Items whose unpublish failed (Firestore unavailable): checked again on the next lap. */
  failed: number;
}

/** Dead letters after `after` in id order (from the start when empty). */
export function deadLetterPageQuery(db: Firestore, after: string, limit: number) {
  const query = db.collection(COLLECTIONS.mirrorQueue).where("deadLetter", "==", true).orderBy(FieldPath.documentId()).limit(limit);
  return after ? query.startAfter(after) : query;
}

export async function recheckDeadLetters(db: Firestore, nowMs: number, pageSize = DEAD_LETTER_CHECK_PAGE): Promise<DeadLetterCheck> {
  const cursorRef = db.collection(COLLECTIONS.workerState).doc(DEAD_LETTER_CHECK_DOC);
  const saved = (await cursorRef.get()).get("after");
  const page = await deadLetterPageQuery(db, typeof saved === "string" ? saved : "", pageSize).get();
  await cursorRef.set({ after: page.size < pageSize ? "" : page.docs[page.size - 1].id, updatedAt: Timestamp.fromMillis(nowMs) });
  const keys = new Map<string, { uid: string; historyId: string }>();
  for (const doc of page.docs) {
    const key = parseTaskKey(doc.data());
    if (key) keys.set(`${key.uid}/${key.historyId}`, key);
  }
  let unpublished = 0;
  let failed = 0;
  if (!keys.size) return { checked: page.size, unpublished, failed };
  const items = [...keys.values()];
  const refs = items.flatMap((k) => [
    db.doc(historyItemPath(k.uid, k.historyId)),
    db.collection(COLLECTIONS.publicGenerations).doc(k.historyId),
  ]);
  const snaps = await db.getAll(...refs);
  for (const [i, key] of items.entries()) {
    // A cheap read first; only an item that looks private-but-public takes the transaction.
    if (failSafeDecision(key.uid, snaps[2 * i].data(), snaps[2 * i + 1].data()) !== "remove") continue;
    try {
      if ((await unpublishIfNotPublic(db, key.uid, key.historyId)) === "unpublished") unpublished++;
    } catch {
      failed++; // one item's failure must not stop the page or the poll that runs it
    }
  }
  return { checked: page.size, unpublished, failed };
}
