import { FieldPath, Timestamp, type Firestore, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { isConflict } from "../errors";

/**
 * Finding work. Three indexed queries, each costing what it returns: pending tasks (oldest
 * first), failed tasks whose retry is due, and processing tasks whose lease ran out.
 *
 * Tasks written without `status` (the app may omit it: docs/DATA_MODEL.md) are invisible to those queries, because
 * Firestore cannot query a missing field. A cursor over `createdAt` stamps each new task
 * `pending` once, so such a task is found even where no trigger runs; each task is read by this
 * scan once. The cursor assumes `createdAt` grows with write time (a server timestamp or the
 * app's clock); a task back-dated behind the cursor relies on the trigger, or on the app writing
 * `status: "pending"`.
 */
const SCAN_CURSOR_DOC = "mirrorQueueScan";

export async function stampNewTasks(db: Firestore, limit: number): Promise<number> {
  const cursorRef = db.collection(COLLECTIONS.workerState).doc(SCAN_CURSOR_DOC);
  const data = (await cursorRef.get()).data();
  const cursor = data?.createdAt instanceof Timestamp && typeof data.taskId === "string" ? { createdAt: data.createdAt, taskId: data.taskId } : undefined;
  const page = await scanQuery(db, cursor, limit).get();
  if (page.empty) return 0;
  let stamped = 0;
  await Promise.all(
    page.docs
      .filter((doc) => doc.get("status") === undefined)
      .map(async (doc) => {
        try {
          await doc.ref.update({ status: "pending" }, { lastUpdateTime: doc.updateTime });
          stamped++;
        } catch (error) {
          if (!isConflict(error)) throw error; // someone else got to it first
        }
      }),
  );
  const last = page.docs[page.docs.length - 1];
  await cursorRef.set({ createdAt: last.get("createdAt"), taskId: last.id, updatedAt: Timestamp.now() });
  return stamped;
}

export function scanQuery(db: Firestore, cursor: { createdAt: Timestamp; taskId: string } | undefined, limit: number) {
  const query = db.collection(COLLECTIONS.mirrorQueue).orderBy("createdAt").orderBy(FieldPath.documentId()).limit(limit);
  return cursor ? query.startAfter(cursor.createdAt, cursor.taskId) : query;
}

export function pendingQuery(db: Firestore, limit: number) {
  return db.collection(COLLECTIONS.mirrorQueue).where("status", "==", "pending").orderBy("createdAt").limit(limit);
}

export function retryDueQuery(db: Firestore, now: Timestamp, limit: number) {
  return db.collection(COLLECTIONS.mirrorQueue).where("status", "==", "failed").where("nextAttemptAt", "<=", now).orderBy("nextAttemptAt").limit(limit);
}

export function leaseExpiredQuery(db: Firestore, now: Timestamp, limit: number) {
  return db.collection(COLLECTIONS.mirrorQueue).where("status", "==", "processing").where("leaseExpiresAt", "<=", now).orderBy("leaseExpiresAt").limit(limit);
}

const createdAtMillis = (doc: QueryDocumentSnapshot) => {
  const t = doc.get("createdAt");
  return t instanceof Timestamp ? t.toMillis() : 0;
};

/** Up to `limit` tasks that can be claimed now, oldest first, whichever query found them. */
export async function findDueTasks(db: Firestore, nowMs: number, limit: number): Promise<QueryDocumentSnapshot[]> {
  await stampNewTasks(db, Math.max(limit, 100));
  const now = Timestamp.fromMillis(nowMs);
  const pages = await Promise.all([pendingQuery(db, limit), retryDueQuery(db, now, limit), leaseExpiredQuery(db, now, limit)].map((q) => q.get()));
  const byId = new Map<string, QueryDocumentSnapshot>();
  for (const page of pages) for (const doc of page.docs) byId.set(doc.id, doc);
  return [...byId.values()].sort((a, b) => createdAtMillis(a) - createdAtMillis(b)).slice(0, limit);
}
