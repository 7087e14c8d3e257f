import { FieldPath, Timestamp, type Firestore, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { auditQueue } from "./queueAudit";

/**
 * Finding work, at a cost that grows with the work found:
 *
 * - pending tasks, by document id from a cursor that goes round the queue (round robin). The
 *   query needs nothing but `status == "pending"`, so a task is found whatever its `createdAt`
 *   holds (missing, a string, far ahead), and is then processed or set aside. A task waits at most
 *   one lap of the pending backlog.
 * - failed tasks whose retry is due, and processing tasks whose lease ran out, oldest first: with
 *   every poll while the pending page is not full, and at least every RECOVERY_INTERVAL_MS while
 *   it is (an empty query still costs a read, and a busy worker polls several times a second).
 * - the audit (queueAudit.ts), at most once per AUDIT_INTERVAL_MS per finder and before the
 *   queries, so a task it stamps `pending` is found by the same poll.
 *
 * How several workers spread: a new task stays `pending` until the commit that completes it (its
 * claim rides in that commit), so two workers whose cursors meet read the same tasks and race for
 * them, and one of them loses the commit. Each finder starts at a random point of the id space,
 * and a worker that lost a race moves its cursor to a new random point (`scatter`). Task ids are
 * Firestore's auto-ids (the app enqueues with `add()`), uniform over that space, so workers land
 * in different parts of the backlog and meet only when one catches up with another. Ids of another
 * shape spread less well; every task is still completed once.
 */
export const AUDIT_INTERVAL_MS = 60_000;
export const RECOVERY_INTERVAL_MS = 10_000;

const mirrorQueue = (db: Firestore) => db.collection(COLLECTIONS.mirrorQueue);

export function pendingQuery(db: Firestore, limit: number) {
  return mirrorQueue(db).where("status", "==", "pending").orderBy(FieldPath.documentId()).limit(limit);
}

/** The oldest pending task by `createdAt`, for queue status. */
export function oldestPendingQuery(db: Firestore) {
  return mirrorQueue(db).where("status", "==", "pending").orderBy("createdAt").limit(1);
}

export function retryDueQuery(db: Firestore, now: Timestamp, limit: number) {
  return mirrorQueue(db).where("status", "==", "failed").where("nextAttemptAt", "<=", now).orderBy("nextAttemptAt").limit(limit);
}

export function leaseExpiredQuery(db: Firestore, now: Timestamp, limit: number) {
  return mirrorQueue(db).where("status", "==", "processing").where("leaseExpiresAt", "<=", now).orderBy("leaseExpiresAt").limit(limit);
}

const ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** A random point in the space of Firestore's auto-generated ids. */
function randomId(random: () => number): string {
  return Array.from({ length: 20 }, () => ID_ALPHABET[Math.floor(random() * ID_ALPHABET.length)]).join("");
}

export class DueTaskFinder {
  /** Pending tasks with ids up to here were visited this lap. */
  private cursor: string;
  private lastAuditMs = Number.NEGATIVE_INFINITY;
  private lastRecoveryMs = Number.NEGATIVE_INFINITY;
  private lastPageFull = false;
  private readonly random: () => number;

  constructor(
    private readonly db: Firestore,
    options: { random?: () => number } = {},
  ) {
    this.random = options.random ?? Math.random;
    this.cursor = randomId(this.random);
  }

  /** Moves the cursor to a new random point (after a race lost to another worker). */
  scatter(): void {
    this.cursor = randomId(this.random);
  }

  /** Up to `limit` tasks that can be claimed now: due retries and expired leases first, then pending, then the audit's. */
  async find(nowMs: number, limit: number): Promise<QueryDocumentSnapshot[]> {
    const now = Timestamp.fromMillis(nowMs);
    const audited = await this.audit(nowMs);
    const recover = !this.lastPageFull || nowMs - this.lastRecoveryMs >= RECOVERY_INTERVAL_MS;
    const none = async () => [];
    const [retry, expired, pending] = await Promise.all([
      recover ? retryDueQuery(this.db, now, limit).get().then((q) => q.docs) : none(),
      recover ? leaseExpiredQuery(this.db, now, limit).get().then((q) => q.docs) : none(),
      this.pendingPage(limit),
    ]);
    if (recover) this.lastRecoveryMs = nowMs;
    this.lastPageFull = pending.length >= limit;
    const byId = new Map<string, QueryDocumentSnapshot>();
    for (const doc of [...retry, ...expired, ...pending, ...audited]) if (!byId.has(doc.id)) byId.set(doc.id, doc);
    const found = [...byId.values()].slice(0, limit);
    // The cursor passes only the pending tasks handed out; the others are found again next poll.
    const lastPending = pending.filter((doc) => found.includes(doc)).pop();
    if (lastPending) this.cursor = lastPending.id;
    return found;
  }

  /** Pending tasks after the cursor, then from the start of the queue up to the cursor. */
  private async pendingPage(limit: number): Promise<QueryDocumentSnapshot[]> {
    const page = await pendingQuery(this.db, limit).startAfter(this.cursor).get();
    if (page.size >= limit) return page.docs;
    const wrapped = await pendingQuery(this.db, limit - page.size).endAt(this.cursor).get();
    return [...page.docs, ...wrapped.docs];
  }

  private async audit(nowMs: number): Promise<QueryDocumentSnapshot[]> {
    if (nowMs - this.lastAuditMs < AUDIT_INTERVAL_MS) return [];
    this.lastAuditMs = nowMs;
    return auditQueue(this.db, nowMs);
  }
}
