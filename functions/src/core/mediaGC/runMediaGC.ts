import { randomUUID } from "node:crypto";
import { FieldPath, Timestamp, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import type { WorkerDeps } from "../deps";
import { isConflict } from "../errors";
import { S3_DELETE_LIMIT, describeStorageError, type MediaStore } from "../storage/mediaStore";
import { cutoffMs, judgeMedia } from "./eligibility";

/**
 * Garbage collection of canvas media. Deleting a user's file by mistake is the worst outcome;
 * leaving garbage for another day is harmless. So, per item:
 *   1. candidate: `referencedByCount == 0` and `createdAt` older than the TTL (an indexed query
 *      whose cost grows with the garbage, paged with a cursor so each item is seen once a run);
 *   2. mark: re-check the doc and set `gcState: "deleting"` in one write conditioned on the doc
 *      being unchanged since it was read (an optimistic single-document transaction): an item
 *      that gained a reference in between is not marked. The app must not add a reference to
 *      media whose `gcState` is "deleting";
 *   3. delete the objects in bulk (DeleteObjects, up to 1,000 keys);
 *   4. delete each record only after its object is gone, conditioned on the doc being unchanged
 *      since the mark. A storage failure keeps the record (and its mark, which expires), so the
 *      next run retries it.
 */
export interface MediaGCOptions {
  ttlDays?: number;
  batchSize?: number;
  dryRun?: boolean;
  /** Stop starting new batches after this long; well under the function's timeout. */
  timeBudgetMs?: number;
}

export interface MediaCandidate {
  id: string;
  storageKey: string;
  size: number | null;
  ageDays: number;
}

export interface MediaGCReport {
  runId: string;
  dryRun: boolean;
  ttlDays: number;
  scanned: number;
  deleted: number;
  failed: { id: string; storageKey: string; reason: string }[];
  /** Candidates left alone, by reason (referenced, young, being-deleted by another run, changed since read). */
  skipped: Record<string, number>;
  bytesFreed: number;
  batches: number;
  /** False when the time budget ended the run before the garbage did. */
  complete: boolean;
  durationMs: number;
  /** Dry run only: what a real run would delete. */
  candidates?: MediaCandidate[];
}

export type MediaGCDeps = WorkerDeps & { store: MediaStore };

export const DEFAULT_GC_TIME_BUDGET_MS = 7 * 60_000;

const sizeOf = (doc: QueryDocumentSnapshot): number | null => (typeof doc.get("size") === "number" ? doc.get("size") : null);

function candidate(doc: QueryDocumentSnapshot, nowMs: number): MediaCandidate {
  const created = doc.get("createdAt") as Timestamp;
  return { id: doc.id, storageKey: doc.get("storageKey"), size: sizeOf(doc), ageDays: Math.floor((nowMs - created.toMillis()) / 86_400_000) };
}

export function mediaGCQuery(db: FirebaseFirestore.Firestore, cutoff: Timestamp, batchSize: number) {
  return db
    .collection(COLLECTIONS.canvasMedia)
    .where("referencedByCount", "==", 0)
    .where("createdAt", "<", cutoff)
    .orderBy("createdAt")
    .orderBy(FieldPath.documentId())
    .limit(batchSize);
}

export async function runMediaGC(deps: MediaGCDeps, options: MediaGCOptions = {}): Promise<MediaGCReport> {
  const { db, clock, config } = deps;
  const ttlDays = options.ttlDays ?? config.MEDIA_GC_TTL_DAYS;
  const batchSize = options.batchSize ?? config.MEDIA_GC_BATCH_SIZE;
  if (!Number.isInteger(ttlDays) || ttlDays < 1) throw new RangeError(`ttlDays must be an integer >= 1, got ${ttlDays}`);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > S3_DELETE_LIMIT) {
    throw new RangeError(`batchSize must be an integer from 1 to ${S3_DELETE_LIMIT}, got ${batchSize}`);
  }
  const dryRun = options.dryRun ?? false;
  const budget = options.timeBudgetMs ?? DEFAULT_GC_TIME_BUDGET_MS;
  const runId = randomUUID();
  const logger = deps.logger.child({ worker: "mediaGC", runId, dryRun });
  const started = clock.now();
  const report: MediaGCReport = { runId, dryRun, ttlDays, scanned: 0, deleted: 0, failed: [], skipped: {}, bytesFreed: 0, batches: 0, complete: true, durationMs: 0 };
  if (dryRun) report.candidates = [];

  const cutoff = Timestamp.fromMillis(cutoffMs(started, ttlDays));
  let cursor: QueryDocumentSnapshot | undefined;
  for (;;) {
    if (clock.now() - started >= budget) {
      report.complete = false;
      break;
    }
    let query = mediaGCQuery(db, cutoff, batchSize);
    if (cursor) query = query.startAfter(cursor);
    const page = await query.get();
    if (page.empty) break;
    report.batches++;
    report.scanned += page.size;
    cursor = page.docs[page.docs.length - 1];
    const now = clock.now();
    const eligible = page.docs.filter((doc) => {
      const verdict = judgeMedia(doc.data(), now, ttlDays);
      if (!verdict.eligible) countSkip(report, verdict.reason);
      return verdict.eligible;
    });
    if (dryRun) {
      for (const doc of eligible) {
        report.candidates!.push(candidate(doc, now));
        report.bytesFreed += sizeOf(doc) ?? 0;
      }
    } else {
      await collectMediaBatch(deps, eligible, runId, report, logger);
    }
    logger.info("mediaGC.batch", { batch: report.batches, scanned: report.scanned, deleted: report.deleted, failed: report.failed.length, wouldDelete: report.candidates?.length });
    if (page.size < batchSize) break;
  }
  report.durationMs = clock.now() - started;
  const { candidates: _omit, failed, ...counts } = report;
  logger.info("mediaGC.completed", { ...counts, failed: failed.length, wouldDelete: report.candidates?.length });
  return report;
}

function countSkip(report: MediaGCReport, reason: string): void {
  report.skipped[reason] = (report.skipped[reason] ?? 0) + 1;
}

/** Steps 2 to 4 for candidates as the query read them; exported so the race with the app can be tested. */
export async function collectMediaBatch(
  deps: MediaGCDeps,
  docs: QueryDocumentSnapshot[],
  runId: string,
  report: MediaGCReport,
  logger: WorkerDeps["logger"],
): Promise<void> {
  const { clock, store } = deps;
  const fail = (doc: QueryDocumentSnapshot, reason: string) => {
    report.failed.push({ id: doc.id, storageKey: doc.get("storageKey"), reason });
    logger.error("mediaGC.item_failed", { mediaId: doc.id, storageKey: doc.get("storageKey"), reason });
  };

  // 2. Mark: only what is unchanged since the query read it.
  const marked: { doc: QueryDocumentSnapshot; version: Timestamp }[] = [];
  await Promise.all(
    docs.map(async (doc) => {
      try {
        const write = await doc.ref.update(
          { gcState: "deleting", gcMarkedAt: Timestamp.fromMillis(clock.now()), gcRunId: runId },
          { lastUpdateTime: doc.updateTime },
        );
        marked.push({ doc, version: write.writeTime });
      } catch (error) {
        if (isConflict(error)) countSkip(report, "changed-since-read");
        else fail(doc, `mark failed: ${describeStorageError(error)}`);
      }
    }),
  );
  if (marked.length === 0) return;

  // 3. Objects, in bulk. An outage fails the whole request: every record stays.
  let gone: Set<string>;
  try {
    const result = await store.deleteObjects(marked.map((m) => m.doc.get("storageKey")));
    gone = new Set(result.deleted);
    const errors = new Map(result.errors.map((e) => [e.key, e.message]));
    for (const { doc } of marked) if (errors.has(doc.get("storageKey"))) fail(doc, `storage: ${errors.get(doc.get("storageKey"))}`);
  } catch (error) {
    const reason = `storage unavailable: ${describeStorageError(error)}`;
    for (const { doc } of marked) fail(doc, reason);
    return;
  }

  // 4. Records, only for objects that are gone, and only if nothing touched them since the mark.
  await Promise.all(
    marked
      .filter(({ doc }) => gone.has(doc.get("storageKey")))
      .map(async ({ doc, version }) => {
        try {
          await doc.ref.delete({ lastUpdateTime: version });
          report.deleted++;
          report.bytesFreed += sizeOf(doc) ?? 0;
        } catch (error) {
          // The app changed a doc marked "deleting" (the rule it must keep); its object is gone, its record stays for a human.
          fail(doc, isConflict(error) ? "record changed after it was marked for deletion: kept" : `record delete failed: ${describeStorageError(error)}`);
        }
      }),
  );
}
