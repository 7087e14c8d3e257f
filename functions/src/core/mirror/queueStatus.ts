import { Timestamp, type Firestore, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { countOf } from "../count";
import { plausibleUntil } from "./claim";
import { implausibleLeaseQuery, implausibleRetryQuery, leaseExpiredQuery, oldestPendingQuery } from "./dueTasks";
import { TASK_STATUSES, type TaskStatus } from "./task";
import { STATUS_LEASE_EXPIRED_READS, STATUS_MANY_ATTEMPTS, STATUS_SAMPLE_SIZE } from "../limits";

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
  /** Failed tasks no worker will retry: marked dead letters, and failed tasks whose attempts reach MIRROR_MAX_ATTEMPTS. */
  deadLetters: { count: number; recent: DeadLetter[] };
  /** Failed tasks still waiting for their retry. */
  retrying: number;
  oldestPendingAgeMs: number | null;
  expiredLeases: { count: number; taskIds: string[] };
  /**
   * Leases and retry times further ahead than a worker could have written (a worker with a fast
   * clock, or a write by hand): the workers take these tasks at once (claim.ts).
   */
  implausibleTimes: { leases: number; retries: number; taskIds: string[] };
  /** Tasks that already took at least this many attempts, whatever their state. */
  manyAttempts: { threshold: number; count: number };
}

const failed = (db: Firestore) => db.collection(COLLECTIONS.mirrorQueue).where("status", "==", "failed");

/**
 * Dead letters, as two queries: tasks marked `deadLetter: true`, and failed tasks not (yet) marked
 * whose attempts already reach the limit, because it was lowered after they failed. A worker marks
 * the second kind when their retry time comes; until then they count, list and requeue the same.
 */
export function deadLetterQueries(db: Firestore, maxAttempts: number) {
  return {
    marked: failed(db).where("deadLetter", "==", true),
    exhausted: failed(db).where("deadLetter", "==", false).where("attempts", ">=", maxAttempts),
  };
}

function deadLetterOf(d: QueryDocumentSnapshot): DeadLetter {
  const failedAt = d.get("failedAt");
  return {
    taskId: d.id,
    op: d.get("op"),
    historyId: d.get("historyId"),
    attempts: d.get("attempts") ?? 0,
    lastError: d.get("lastError"),
    failedAt: failedAt instanceof Timestamp ? failedAt.toDate().toISOString() : undefined,
  };
}

/** Queue health from count aggregations (one read per 1,000 index entries) and small lists. */
export async function getQueueStatus(
  db: Firestore,
  nowMs: number,
  options: { maxAttempts: number; leaseMs?: number; deadLetterLimit?: number; attemptsThreshold?: number },
): Promise<QueueStatus> {
  const queue = db.collection(COLLECTIONS.mirrorQueue);
  const now = Timestamp.fromMillis(nowMs);
  const threshold = options.attemptsThreshold ?? STATUS_MANY_ATTEMPTS;
  const listed = options.deadLetterLimit ?? STATUS_SAMPLE_SIZE;
  const dead = deadLetterQueries(db, options.maxAttempts);
  // Without MIRROR_LEASE_MS, the largest allowed: a lease is never reported implausible by mistake.
  const until = plausibleUntil(nowMs, options.leaseMs ?? 3_600_000);
  const [counts, marked, exhausted, retrying, markedDocs, exhaustedDocs, oldest, expired, many, farLeases, farRetries] = await Promise.all([
    Promise.all(TASK_STATUSES.map((s) => countOf(queue.where("status", "==", s)))),
    countOf(dead.marked),
    countOf(dead.exhausted),
    countOf(failed(db).where("deadLetter", "==", false).where("attempts", "<", options.maxAttempts)),
    dead.marked.orderBy("failedAt", "desc").limit(listed).get(),
    dead.exhausted.limit(listed).get(),
    oldestPendingQuery(db).get(),
    leaseExpiredQuery(db, now, STATUS_LEASE_EXPIRED_READS).get(),
    countOf(queue.where("attempts", ">=", threshold)),
    implausibleLeaseQuery(db, Timestamp.fromMillis(until.lease), 100).get(),
    implausibleRetryQuery(db, Timestamp.fromMillis(until.retry), 100).get(),
  ]);
  const recent = [...exhaustedDocs.docs, ...markedDocs.docs].map(deadLetterOf).slice(0, listed);
  const oldestCreated = oldest.docs[0]?.get("createdAt");
  return {
    depth: Object.fromEntries(TASK_STATUSES.map((s, i) => [s, counts[i]])) as Record<TaskStatus, number>,
    deadLetters: { count: marked + exhausted, recent },
    retrying,
    oldestPendingAgeMs: oldestCreated instanceof Timestamp ? Math.max(0, nowMs - oldestCreated.toMillis()) : null,
    expiredLeases: { count: expired.size, taskIds: expired.docs.map((d) => d.id) },
    implausibleTimes: {
      leases: farLeases.size,
      retries: farRetries.size,
      taskIds: [...farLeases.docs, ...farRetries.docs].map((d) => d.id),
    },
    manyAttempts: { threshold, count: many },
  };
}
