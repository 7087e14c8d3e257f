import { FieldPath, Timestamp, type DocumentData, type Firestore, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { isConflict } from "../errors";
import { TASK_STATUSES } from "./task";

/**
 * The audit: the safety net for tasks no indexed query can find. Firestore cannot query a missing
 * field, so a task written without `status` (outside the app's contract, which is to write
 * `status: "pending"`), with a status no worker knows, or with a worker field of the wrong type
 * (a failed task whose `nextAttemptAt` is not a Timestamp, a processing one whose lease is not)
 * would otherwise sit forever. The audit walks the whole queue in document-id order, a page per
 * run, from a cursor kept in `workerState/mirrorQueueAudit`. It stamps a task without status
 * `pending` (a write conditioned on the task being unchanged), so the pending query finds it from
 * then on, and hands the other kinds to the worker. An id cursor is exact: a task written behind it
 * is found on the next lap, whatever its fields. A lap costs one read per task doc in the queue
 * (done tasks included until their TTL deletes them).
 */
export const AUDIT_PAGE_SIZE = 200;
export const AUDIT_CURSOR_DOC = "mirrorQueueAudit";

/** True for a task that none of the pending, retry-due and lease-expired queries would return. */
export function needsAudit(data: DocumentData): boolean {
  const status = data.status;
  if (!TASK_STATUSES.includes(status)) return true;
  if (status === "failed") return data.deadLetter !== true && !(data.nextAttemptAt instanceof Timestamp);
  if (status === "processing") return !(data.leaseExpiresAt instanceof Timestamp);
  return false;
}

export function auditQuery(db: Firestore, after: string, limit: number) {
  const query = db.collection(COLLECTIONS.mirrorQueue).orderBy(FieldPath.documentId()).limit(limit);
  return after ? query.startAfter(after) : query;
}

/**
 * Stamps a task without status `pending`. False when that is done or moot (a worker or the trigger
 * changed the task first); true when the stamp did not land for another reason (Firestore refused
 * any write to the doc, say it is within bytes of 1 MiB, or was unavailable): the audit then hands
 * the task to the worker as it is, which claims it or sets it aside, so it never stays where no query finds it.
 */
async function stampPending(doc: QueryDocumentSnapshot): Promise<boolean> {
  try {
    await doc.ref.update({ status: "pending" }, { lastUpdateTime: doc.updateTime });
    return false;
  } catch (error) {
    return !isConflict(error);
  }
}

/**
 * One audit page: stamps the tasks without status on it `pending`, and returns the other tasks on
 * it that only the audit can find (and those it could not stamp), at most `limit` (what the
 * caller's batch holds). The cursor moves past the page, or only up to the last task returned when
 * there were more than `limit`: it never passes a task the audit could not stamp or hand out. It
 * wraps at the end of the queue.
 */
export async function auditQueue(
  db: Firestore,
  nowMs: number,
  options: { pageSize?: number; limit?: number } = {},
): Promise<QueryDocumentSnapshot[]> {
  const pageSize = options.pageSize ?? AUDIT_PAGE_SIZE;
  const limit = options.limit ?? pageSize;
  const cursorRef = db.collection(COLLECTIONS.workerState).doc(AUDIT_CURSOR_DOC);
  const saved = (await cursorRef.get()).get("after");
  const after = typeof saved === "string" ? saved : "";
  const page = await auditQuery(db, after, pageSize).get();
  const found = page.docs.filter((doc) => needsAudit(doc.data()));
  const statusless = found.filter((doc) => doc.get("status") === undefined);
  const unstamped = new Set(
    (await Promise.all(statusless.map(async (doc) => ((await stampPending(doc)) ? doc.id : undefined)))).filter((id) => id !== undefined),
  );
  const handed = found.filter((doc) => doc.get("status") !== undefined || unstamped.has(doc.id));
  const taken = handed.slice(0, limit);
  const next = handed.length > limit ? taken[taken.length - 1].id : page.size < pageSize ? "" : page.docs[page.size - 1].id;
  await cursorRef.set({ after: next, updatedAt: Timestamp.fromMillis(nowMs) });
  return taken;
}
