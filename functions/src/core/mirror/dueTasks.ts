import { FieldPath, Timestamp, type Firestore, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import type { Logger } from "../logger";
import { plausibleUntil } from "./claim";
import { recheckDeadLetters } from "./deadLetterCheck";
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
 *   it is (an empty query still costs a read, and a busy worker polls several times a second). A
 *   dead letter that still carries a retry time is found here and marked again without it
 *   (claim.ts), so it leaves the query.
 * - the audit step, at most once per AUDIT_INTERVAL_MS per finder and before the queries (so a task
 *   it stamps `pending` is found by the same poll): the audit page (queueAudit.ts), whose finds
 *   come first in the batch (it hands out no more than the batch holds, so none is dropped); tasks
 *   whose retry time or lease end lies further ahead than a worker could have written (claim.ts),
 *   taken at once; and a page of dead letters whose items are re-checked against their source
 *   (deadLetterCheck.ts). Rare cases, so an idle poll between audits still costs 4 reads.
 *
 * How several workers spread: a new task stays `pending` until the commit that completes it (its
 * claim rides in that commit), so two workers whose cursors meet read the same tasks and race for
 * them, and one of them loses the commit. Each finder starts at a random point of the id space,
 * and a worker that lost a race moves its cursor to a new random point (`scatter`). Task ids are
 * Firestore's auto-ids (the app enqueues with `add()`), uniform over that space, so workers land
 * in different parts of the backlog and meet only when one catches up with another. Ids of another
 * shape spread less well; every task is still completed once.
 *
 * Where they still meet: a worker that catches up with another finds no pending task in the other's
 * wake (done tasks leave the pending query), so its next page is the other's page in flight. The
 * loser's page read ahead is then most likely the other's next page, so the worker drops it before
 * it scatters (queueWorker.ts). A random point lands in a wake as often as the id space behind the
 * workers is done, so in the last part of a drain more scatters end in another worker's page.
 * When both workers' transactions hold the same mirror docs, Firestore aborts one (ABORTED; the
 * emulator only after a 2 s lock timeout, in which the winner waits too) and the SDK retries it
 * after its backoff (0.5-1.5 s first); the retry then fails its fence (taskBatch.ts re-reads).
 */
export const AUDIT_INTERVAL_MS = 60_000;
export const RECOVERY_INTERVAL_MS = 10_000;
/** The largest MIRROR_LEASE_MS the configuration allows. */
const MAX_LEASE_MS = 3_600_000;

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

/** Processing tasks whose lease ends after `bound` (no worker writes such a lease), nearest first (the lease-expired index). */
export function implausibleLeaseQuery(db: Firestore, bound: Timestamp, limit: number) {
  return mirrorQueue(db).where("status", "==", "processing").where("leaseExpiresAt", ">", bound).orderBy("leaseExpiresAt").limit(limit);
}

/** Failed tasks whose retry time is after `bound` (no worker writes such a retry time), nearest first (the retry-due index). */
export function implausibleRetryQuery(db: Firestore, bound: Timestamp, limit: number) {
  return mirrorQueue(db).where("status", "==", "failed").where("nextAttemptAt", ">", bound).orderBy("nextAttemptAt").limit(limit);
}

/** The characters of Firestore's auto-generated ids, in id order. */
export const ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

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
  private readonly leaseMs: number;
  private readonly logger: Logger;

  /** `leaseMs`: MIRROR_LEASE_MS; without it, the largest allowed (a lease is never judged too long by mistake). */
  constructor(
    private readonly db: Firestore,
    options: { logger: Logger; random?: () => number; leaseMs?: number },
  ) {
    this.random = options.random ?? Math.random;
    this.cursor = randomId(this.random);
    this.leaseMs = options.leaseMs ?? MAX_LEASE_MS;
    this.logger = options.logger;
  }

  /** Moves the cursor to a new random point (after a race lost to another worker). */
  scatter(): void {
    this.cursor = randomId(this.random);
  }

  /**
   * Up to `limit` tasks that can be claimed now: the audit step's, due retries and expired leases,
   * then pending; none of `exclude` (the batch in hand, while its next page is read: the retry and
   * lease queries, oldest first, still return its tasks until their claims land, so they ask for
   * that many more).
   */
  async find(nowMs: number, limit: number, exclude: ReadonlySet<string> = new Set()): Promise<QueryDocumentSnapshot[]> {
    const now = Timestamp.fromMillis(nowMs);
    const audited = await this.audit(nowMs, limit);
    const recover = !this.lastPageFull || nowMs - this.lastRecoveryMs >= RECOVERY_INTERVAL_MS;
    const none = async () => [];
    const [retry, expired, pending] = await Promise.all([
      recover
        ? retryDueQuery(this.db, now, limit + exclude.size)
            .get()
            .then((q) => q.docs)
        : none(),
      recover
        ? leaseExpiredQuery(this.db, now, limit + exclude.size)
            .get()
            .then((q) => q.docs)
        : none(),
      this.pendingPage(limit),
    ]);
    if (recover) this.lastRecoveryMs = nowMs;
    this.lastPageFull = pending.length >= limit;
    const byId = new Map<string, QueryDocumentSnapshot>();
    for (const doc of [...audited, ...retry, ...expired, ...pending]) if (!byId.has(doc.id) && !exclude.has(doc.id)) byId.set(doc.id, doc);
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
    const wrapped = await pendingQuery(this.db, limit - page.size)
      .endAt(this.cursor)
      .get();
    return [...page.docs, ...wrapped.docs];
  }

  /**
   * The audit step. Each part of it is a safety net: one that fails is logged and tried again at the
   * next audit, and the poll goes on with its queries (a failure here must not stop the queue).
   */
  private async audit(nowMs: number, limit: number): Promise<QueryDocumentSnapshot[]> {
    if (nowMs - this.lastAuditMs < AUDIT_INTERVAL_MS) return [];
    this.lastAuditMs = nowMs;
    await recheckDeadLetters(this.db, nowMs).catch((error) => this.logger.error("mirror.dead_letter_check_failed", { error }));
    const until = plausibleUntil(nowMs, this.leaseMs);
    const parts = await Promise.all([
      auditQueue(this.db, nowMs, { limit }),
      implausibleRetryQuery(this.db, Timestamp.fromMillis(until.retry), limit)
        .get()
        .then((q) => q.docs),
      implausibleLeaseQuery(this.db, Timestamp.fromMillis(until.lease), limit)
        .get()
        .then((q) => q.docs),
    ]).catch((error) => {
      this.logger.error("mirror.audit_failed", { error });
      return [];
    });
    // The audit page's finds first: its cursor has passed them.
    return parts.flat();
  }
}
