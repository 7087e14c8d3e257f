import { Timestamp, type Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { countOf } from "../count";
import { leaseExpiredQuery, pendingQuery } from "./dueTasks";
import { TASK_STATUSES, type TaskStatus } from "./task";

export interface DeadLetter {
  taskId: string;
  op?: string;
  historyId?: string;
  attempts: number;
  lastError?: string;
  failedAt?: string;
}

export interface QueueStatus {
  depth: Record<TaskStatus, number>;
  deadLetters: { count: number; recent: DeadLetter[] };
  /** Failed tasks still waiting for their retry. */
  retrying: number;
  oldestPendingAgeMs: number | null;
  expiredLeases: { count: number; taskIds: string[] };
  /** Tasks that already took at least this many attempts, whatever their state. */
  manyAttempts: { threshold: number; count: number };
}

export function deadLetterQuery(db: Firestore) {
  return db.collection(COLLECTIONS.mirrorQueue).where("status", "==", "failed").where("deadLetter", "==", true);
}

/** Queue health from count aggregations (one read per 1,000 index entries) and two small lists. */
export async function getQueueStatus(db: Firestore, nowMs: number, options: { deadLetterLimit?: number; attemptsThreshold?: number } = {}): Promise<QueueStatus> {
  const queue = db.collection(COLLECTIONS.mirrorQueue);
  const now = Timestamp.fromMillis(nowMs);
  const threshold = options.attemptsThreshold ?? 3;
  const deadQuery = deadLetterQuery(db);
  const [counts, deadCount, retrying, deadDocs, oldest, expired, many] = await Promise.all([
    Promise.all(TASK_STATUSES.map((s) => countOf(queue.where("status", "==", s)))),
    countOf(deadQuery),
    countOf(queue.where("status", "==", "failed").where("deadLetter", "==", false)),
    deadQuery.orderBy("failedAt", "desc").limit(options.deadLetterLimit ?? 20).get(),
    pendingQuery(db, 1).get(),
    leaseExpiredQuery(db, now, 100).get(),
    countOf(queue.where("attempts", ">=", threshold)),
  ]);
  const oldestCreated = oldest.docs[0]?.get("createdAt");
  return {
    depth: Object.fromEntries(TASK_STATUSES.map((s, i) => [s, counts[i]])) as Record<TaskStatus, number>,
    deadLetters: {
      count: deadCount,
      recent: deadDocs.docs.map((d) => ({
        taskId: d.id,
        op: d.get("op"),
        historyId: d.get("historyId"),
        attempts: d.get("attempts") ?? 0,
        lastError: d.get("lastError"),
        failedAt: (d.get("failedAt") as Timestamp | undefined)?.toDate().toISOString(),
      })),
    },
    retrying,
    oldestPendingAgeMs: oldestCreated instanceof Timestamp ? Math.max(0, nowMs - oldestCreated.toMillis()) : null,
    expiredLeases: { count: expired.size, taskIds: expired.docs.map((d) => d.id) },
    manyAttempts: { threshold, count: many },
  };
}
