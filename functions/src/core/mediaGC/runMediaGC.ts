import { randomUUID } from "node:crypto";
import { FieldPath, Timestamp, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import type { WorkerDeps } from "../deps";
import { countOf } from "../count";
import { ConfigError, errorMessage, firestoreCode, GrpcStatus } from "../errors";
import { progressTotal, type OnProgress } from "../progress";
import { S3_DELETE_LIMIT, type MediaStore } from "../storage/mediaStore";
import { collectMediaBatch, type BatchRun } from "./collectBatch";
import { cutoffMs, judgeMedia, mediaSize, setAsideProblem } from "./eligibility";
import {
  countSkip,
  GC_REPORT_LIST_LIMIT,
  type MediaCandidate,
  type MediaGCDeleteReport,
  type MediaGCDryRunReport,
  type MediaGCReport,
} from "./report";
import { storageKeyProblem } from "./storageKeys";
import { COUNT_CAP, RUN_TIME_BUDGET_MS } from "../limits";

export type { MediaCandidate, MediaGCDeleteReport, MediaGCDryRunReport, MediaGCReport };

/**
 * Garbage collection of canvas media. Deleting a user's file by mistake is the worst outcome;
 * leaving garbage for another day is harmless. A run pages through the candidates (an indexed
 * query: `referencedByCount == 0`, `createdAt` older than the TTL), judges each doc
 * (eligibility.ts), and hands each page to `collectMediaBatch` (collectBatch.ts: mark, check
 * shared keys, bulk delete, delete records, release what failed), until the garbage or its time
 * budget ends. The protocol and the providers it was checked against are in the README.
 */
export interface MediaGCOptions {
  ttlDays?: number;
  batchSize?: number;
  dryRun?: boolean;
  /**
   * The run's time budget in ms: no batch starts after it, and a storage request still running
   * when it ends is aborted (its items are released, their records kept). Well under the function's timeout.
   */
  timeBudgetMs?: number;
  /** Progress after each batch, against the candidates counted at the start (up to COUNT_CAP). */
  onProgress?: OnProgress;
}

export type MediaGCDeps = WorkerDeps & { store: MediaStore };

function candidate(doc: QueryDocumentSnapshot, nowMs: number): MediaCandidate {
  const created = doc.get("createdAt") as Timestamp;
  return {
    id: doc.id,
    storageKey: doc.get("storageKey"),
    size: mediaSize(doc.data()),
    ageDays: Math.floor((nowMs - created.toMillis()) / 86_400_000),
  };
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

/**
 * Reads a page of `mediaGCQuery`. Throws ConfigError naming the index when Firestore answers
 * FAILED_PRECONDITION for a missing index (firestore.indexes.json not deployed: its message holds
 * the console link that creates it); rethrows anything else.
 */
export async function readCandidates(query: FirebaseFirestore.Query): Promise<FirebaseFirestore.QuerySnapshot> {
  try {
    return await query.get();
  } catch (error) {
    if (firestoreCode(error) === GrpcStatus.FAILED_PRECONDITION && /index/i.test(errorMessage(error))) {
      throw new ConfigError(
        `the media GC's query needs the canvasMedia index (referencedByCount, createdAt) of firestore.indexes.json: ${errorMessage(error)}`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * A dry run reads Firestore only, so it needs no store; a real run needs one.
 * Throws RangeError for out-of-range options, and ConfigError when the store refuses the request
 * for a reason its settings cause (credentials, bucket, region): the message names the setting.
 */
export function runMediaGC(deps: WorkerDeps, options: MediaGCOptions & { dryRun: true }): Promise<MediaGCDryRunReport>;
export function runMediaGC(deps: MediaGCDeps, options?: MediaGCOptions & { dryRun?: false }): Promise<MediaGCDeleteReport>;
export function runMediaGC(deps: MediaGCDeps, options?: MediaGCOptions): Promise<MediaGCReport>;
export async function runMediaGC(deps: WorkerDeps & { store?: MediaStore }, options: MediaGCOptions = {}): Promise<MediaGCReport> {
  const { db, clock, config } = deps;
  const ttlDays = options.ttlDays ?? config.MEDIA_GC_TTL_DAYS;
  const batchSize = options.batchSize ?? config.MEDIA_GC_BATCH_SIZE;
  if (!Number.isInteger(ttlDays) || ttlDays < 1) throw new RangeError(`ttlDays must be an integer >= 1, got ${ttlDays}`);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > S3_DELETE_LIMIT) {
    throw new RangeError(`batchSize must be an integer from 1 to ${S3_DELETE_LIMIT}, got ${batchSize}`);
  }
  const dryRun = options.dryRun ?? false;
  const store = deps.store;
  if (!dryRun && !store) throw new ConfigError("a media GC that deletes needs the media store (ZATA_* settings)");
  const runId = randomUUID();
  const logger = deps.logger.child({ worker: "mediaGC", runId, dryRun });
  const started = clock.now();
  const deadlineMs = started + (options.timeBudgetMs ?? RUN_TIME_BUDGET_MS);
  const common = { runId, ttlDays, scanned: 0, skipped: {}, bytesFreed: 0, batches: 0, complete: true, durationMs: 0 };
  const report: MediaGCReport = dryRun
    ? { ...common, dryRun, candidates: [], candidateCount: 0 }
    : { ...common, dryRun, deleted: 0, failed: [], failedCount: 0, sharedObjectsKept: 0 };
  const run: BatchRun | undefined = !report.dryRun && store ? { db, clock, store, runId, report, logger, deadlineMs } : undefined;

  const cutoff = Timestamp.fromMillis(cutoffMs(started, ttlDays));
  const total = options.onProgress
    ? await progressTotal(logger, "candidates", () => countOf(mediaGCQuery(db, cutoff, COUNT_CAP)))
    : undefined;
  let cursor: QueryDocumentSnapshot | undefined;
  for (;;) {
    if (clock.now() >= deadlineMs) {
      stop(report, "time budget spent");
      break;
    }
    let query = mediaGCQuery(db, cutoff, batchSize);
    if (cursor) query = query.startAfter(cursor);
    const page = await readCandidates(query);
    if (page.empty) break;
    report.batches++;
    report.scanned += page.size;
    cursor = page.docs[page.docs.length - 1];
    const now = clock.now();
    const eligible = page.docs.filter((doc) => {
      const verdict = judgeMedia(doc.data(), now, ttlDays);
      if (verdict.eligible) {
        if (doc.get("size") !== undefined && mediaSize(doc.data()) === null)
          logger.warn("mediaGC.invalid_size", { mediaId: doc.id, size: String(doc.get("size")).slice(0, 50) });
        return true;
      }
      countSkip(report, verdict.reason);
      if (verdict.reason === "unsafe-storageKey" || verdict.reason === "set-aside") {
        const problem = verdict.reason === "set-aside" ? setAsideProblem(doc.data()) : storageKeyProblem(doc.get("storageKey"));
        logger.warn("mediaGC.item_skipped", {
          mediaId: doc.id,
          storageKey: String(doc.get("storageKey")).slice(0, 200),
          reason: verdict.reason,
          problem,
        });
      }
      return false;
    });
    if (report.dryRun) {
      for (const doc of eligible) {
        const c = candidate(doc, now);
        report.candidateCount++;
        if (report.candidates.length < GC_REPORT_LIST_LIMIT) report.candidates.push(c);
        report.bytesFreed += c.size ?? 0;
      }
    } else if (run) {
      const end = await collectMediaBatch(run, eligible);
      if (end?.kind === "settings") throw new ConfigError(`media storage refused the request (${end.message}): check ${end.setting}`);
      if (end) {
        stop(report, end.kind === "time-budget" ? "time budget spent" : `storage failed: ${end.message}`);
        break;
      }
    }
    const counts = outcomeCounts(report);
    logger.info("mediaGC.batch", { batch: report.batches, scanned: report.scanned, ...counts });
    options.onProgress?.({ run: "media GC", phase: "candidates", done: report.scanned, total, counts });
    if (page.size < batchSize) break;
  }
  report.durationMs = clock.now() - started;
  const { scanned, skipped, bytesFreed, batches, complete, stoppedBy, durationMs } = report;
  const kept = report.dryRun ? {} : { sharedObjectsKept: report.sharedObjectsKept };
  logger.info("mediaGC.completed", {
    ttlDays,
    scanned,
    skipped,
    bytesFreed,
    batches,
    complete,
    stoppedBy,
    durationMs,
    ...kept,
    ...outcomeCounts(report),
  });
  return report;
}

/** What a run did so far, as counts for the log and the progress line. */
const outcomeCounts = (report: MediaGCReport): Record<string, number> =>
  report.dryRun ? { wouldDelete: report.candidateCount } : { deleted: report.deleted, failed: report.failedCount };

function stop(report: MediaGCReport, why: string): void {
  report.complete = false;
  report.stoppedBy = why;
}
