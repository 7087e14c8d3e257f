import { FieldValue, type Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { isConflict } from "../errors";
import { deadLetterQuery } from "./queueStatus";

/**
 * Puts dead letters back in the queue: `pending`, attempts reset to 0, `lastError` kept for the
 * record. Each write is conditioned on the task being unchanged since it was read, so a task
 * that left the dead-letter state meanwhile is not touched.
 */
export interface RequeueReport {
  requeued: string[];
  notDeadLetters: string[];
}

export async function requeueDeadLetters(db: Firestore, options: { taskIds?: string[] } = {}): Promise<RequeueReport> {
  const report: RequeueReport = { requeued: [], notDeadLetters: [] };
  const snaps = options.taskIds?.length
    ? await db.getAll(...options.taskIds.map((id) => db.collection(COLLECTIONS.mirrorQueue).doc(id)))
    : (await deadLetterQuery(db).get()).docs;
  for (const snap of snaps) {
    if (!snap.exists || snap.get("status") !== "failed" || snap.get("deadLetter") !== true) {
      report.notDeadLetters.push(snap.id);
      continue;
    }
    try {
      await snap.ref.update({ status: "pending", attempts: 0, deadLetter: FieldValue.delete(), requeuedAt: FieldValue.serverTimestamp() }, { lastUpdateTime: snap.updateTime! });
      report.requeued.push(snap.id);
    } catch (error) {
      if (!isConflict(error)) throw error;
      report.notDeadLetters.push(snap.id);
    }
  }
  return report;
}
