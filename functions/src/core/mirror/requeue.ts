import { FieldValue, type DocumentSnapshot, type Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { isConflict } from "../errors";
import { deadLetterQueries } from "./queueStatus";

/**
 * Puts dead letters back in the queue: `pending`, attempts reset to 0, `lastError` kept for the
 * record. A dead letter is a failed task marked `deadLetter: true`, or one whose attempts reach
 * `maxAttempts` (MIRROR_MAX_ATTEMPTS, perhaps lowered since it failed). Each write is conditioned
 * on the task being unchanged since it was read, so a task that left that state meanwhile is not touched.
 */
export interface RequeueReport {
  requeued: string[];
  notDeadLetters: string[];
}

function isDeadLetter(snap: DocumentSnapshot, maxAttempts: number): boolean {
  if (!snap.exists || snap.get("status") !== "failed") return false;
  const attempts = snap.get("attempts");
  return snap.get("deadLetter") === true || (typeof attempts === "number" && attempts >= maxAttempts);
}

export async function requeueDeadLetters(db: Firestore, options: { maxAttempts: number; taskIds?: string[] }): Promise<RequeueReport> {
  const report: RequeueReport = { requeued: [], notDeadLetters: [] };
  const queries = deadLetterQueries(db, options.maxAttempts);
  const snaps = options.taskIds?.length
    ? await db.getAll(...options.taskIds.map((id) => db.collection(COLLECTIONS.mirrorQueue).doc(id)))
    : (await Promise.all([queries.marked.get(), queries.exhausted.get()])).flatMap((page) => page.docs);
  for (const snap of snaps) {
    if (!isDeadLetter(snap, options.maxAttempts)) {
      report.notDeadLetters.push(snap.id);
      continue;
    }
    try {
      await snap.ref.update(
        { status: "pending", attempts: 0, deadLetter: FieldValue.delete(), requeuedAt: FieldValue.serverTimestamp() },
        { lastUpdateTime: snap.updateTime! },
      );
      report.requeued.push(snap.id);
    } catch (error) {
      if (!isConflict(error)) throw error;
      report.notDeadLetters.push(snap.id);
    }
  }
  return report;
}
