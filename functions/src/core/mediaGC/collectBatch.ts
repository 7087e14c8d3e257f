import { FieldValue, Timestamp, type Firestore, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import type { Clock } from "../clock";
import { COLLECTIONS } from "../collections";
import { errorMessage, isConflict } from "../errors";
import type { Logger } from "../logger";
import { describeStorageFailure, type MediaStore, type StorageFailure } from "../storage/mediaStore";
import { hasLiveMark } from "./eligibility";
import { countSkip, type MediaGCReport } from "./report";

/** One run's context for its batches. */
export interface BatchRun {
  db: Firestore;
  clock: Clock;
  store: MediaStore;
  runId: string;
  report: MediaGCReport;
  logger: Logger;
  /** Clock time at which the run's budget ends; a storage request still running then is aborted. */
  deadlineMs: number;
}

interface Marked {
  doc: QueryDocumentSnapshot;
  key: string;
  /** Update time of the mark: every later write is conditioned on it, so it acts only on this run's own mark. */
  version: Timestamp;
}

/**
 * Steps 2 to 5 of the GC protocol for candidates as the query read them:
 *   2. mark each (`gcState: "deleting"`, `gcMarkedAt`, `gcRunId`) in one write conditioned on the
 *      doc being unchanged since it was read: an item that gained a reference meanwhile is skipped;
 *   3. for each storageKey, look for other media docs naming it: if any, the object stays
 *      (their record only is deleted), or, if another run is deleting one of them, the item waits;
 *   4. delete the remaining objects in one DeleteObjects request, within the run's time budget;
 *   5. delete each record whose object the store confirmed deleted, conditioned on its mark;
 *      release the mark of every other item, conditioned on the mark (step 2's write) being this
 *      run's, so the next run retries it at once.
 * Returns why the run must stop, if it must: the budget ended before step 4 (the marked items are
 * released), or the storage request failed as a whole.
 */
export type BatchStop = { kind: "time-budget" } | { kind: "storage"; failure: StorageFailure };

export async function collectMediaBatch(run: BatchRun, docs: QueryDocumentSnapshot[]): Promise<BatchStop | undefined> {
  const marked = await mark(run, docs);
  const byKey = new Map<string, Marked[]>();
  for (const m of marked) byKey.set(m.key, [...(byKey.get(m.key) ?? []), m]);

  const exclusive: string[] = [];
  for (const [key, verdict] of await sharedKeyVerdicts(run, byKey)) {
    const items = byKey.get(key)!;
    if (verdict === "exclusive") exclusive.push(key);
    else if (verdict === "busy") {
      countSkip(run.report, "shared-key-busy", items.length);
      await Promise.all(items.map((m) => release(run, m, { reason: "another run is deleting a media doc with the same storageKey", objectKept: true })));
    } else {
      run.logger.info("mediaGC.shared_key", { storageKey: key, mediaIds: items.map((m) => m.doc.id) });
      await Promise.all(items.map((m) => deleteRecord(run, m, { objectDeleted: false })));
    }
  }
  if (exclusive.length === 0) return undefined;
  const items = exclusive.flatMap((k) => byKey.get(k)!);
  const remainingMs = run.deadlineMs - run.clock.now();
  if (remainingMs <= 0) {
    countSkip(run.report, "time-budget", items.length);
    await Promise.all(items.map((m) => release(run, m, { reason: "the run's time budget ended before its delete", objectKept: true })));
    return { kind: "time-budget" };
  }

  let outcome;
  try {
    // Node's timers take at most 2^31 - 1 ms.
    outcome = await run.store.deleteObjects(exclusive, { signal: AbortSignal.timeout(Math.min(remainingMs, 2 ** 31 - 1)) });
  } catch (error) {
    const failure = describeStorageFailure(error);
    run.logger.error("mediaGC.storage_failed", { error, keys: exclusive.length, nothingDeleted: failure.nothingDeleted });
    await Promise.all(items.map((m) => failAndRelease(run, m, `storage request failed: ${failure.message}`, { objectKept: failure.nothingDeleted })));
    return { kind: "storage", failure };
  }

  const bytes = new Map<string, number>();
  await Promise.all([
    ...outcome.deleted.flatMap((k) => byKey.get(k)!.map((m) => deleteRecord(run, m, { objectDeleted: true, bytes }))),
    ...outcome.refused.flatMap(({ key, message }) => byKey.get(key)!.map((m) => failAndRelease(run, m, `storage refused: ${message}`, { objectKept: true, keyFailure: true }))),
    ...outcome.unconfirmed.flatMap((k) =>
      byKey.get(k)!.map((m) => failAndRelease(run, m, "storage did not confirm the delete (the key is in neither Deleted nor Errors of its answer)", { objectKept: false, keyFailure: true })),
    ),
  ]);
  for (const n of bytes.values()) run.report.bytesFreed += n;
  return undefined;
}

async function mark(run: BatchRun, docs: QueryDocumentSnapshot[]): Promise<Marked[]> {
  const marked: Marked[] = [];
  await Promise.all(
    docs.map(async (doc) => {
      try {
        const write = await doc.ref.update(
          { gcState: "deleting", gcMarkedAt: Timestamp.fromMillis(run.clock.now()), gcRunId: run.runId },
          { lastUpdateTime: doc.updateTime },
        );
        marked.push({ doc, key: doc.get("storageKey"), version: write.writeTime });
      } catch (error) {
        if (isConflict(error)) countSkip(run.report, "changed-since-read");
        else fail(run, doc, `mark failed: ${errorMessage(error)}`, error);
      }
    }),
  );
  return marked;
}

const QUERY_CONCURRENCY = 50;

async function sharedKeyVerdicts(run: BatchRun, byKey: Map<string, Marked[]>): Promise<[string, SharedKeyVerdict][]> {
  const keys = [...byKey.keys()];
  const out: [string, SharedKeyVerdict][] = [];
  for (let i = 0; i < keys.length; i += QUERY_CONCURRENCY) {
    const slice = keys.slice(i, i + QUERY_CONCURRENCY);
    out.push(...(await Promise.all(slice.map(async (key) => [key, await sharedKeyVerdict(run, key, byKey.get(key)!)] as [string, SharedKeyVerdict]))));
  }
  return out;
}

type SharedKeyVerdict = "exclusive" | "shared" | "busy";

/**
 * Whether this batch's items are the only media docs naming `key` ("exclusive": the object may
 * go), or others name it too ("shared": the object stays), one of them marked by another run
 * ("busy": wait for that run). Reads at most one doc beyond the batch's own.
 */
async function sharedKeyVerdict(run: BatchRun, key: string, items: Marked[]): Promise<SharedKeyVerdict> {
  const ours = new Set(items.map((m) => m.doc.id));
  const named = await run.db.collection(COLLECTIONS.canvasMedia).where("storageKey", "==", key).limit(ours.size + 1).get();
  const others = named.docs.filter((d) => !ours.has(d.id));
  if (others.length === 0) return "exclusive";
  const now = run.clock.now();
  return others.some((d) => hasLiveMark(d.data(), now)) ? "busy" : "shared";
}

async function deleteRecord(run: BatchRun, m: Marked, how: { objectDeleted: boolean; bytes?: Map<string, number> }): Promise<void> {
  try {
    await m.doc.ref.delete({ lastUpdateTime: m.version });
    run.report.deleted++;
    const size = m.doc.get("size");
    if (how.objectDeleted && how.bytes && typeof size === "number") how.bytes.set(m.key, Math.max(how.bytes.get(m.key) ?? 0, size));
    if (!how.objectDeleted) run.report.sharedObjectsKept++;
  } catch (error) {
    // The app changed a doc marked "deleting" (the rule it must keep); its record stays for a human.
    const reason = isConflict(error) ? `record changed after it was marked for deletion: kept${how.objectDeleted ? " (its object is deleted)" : ""}` : `record delete failed: ${errorMessage(error)}`;
    fail(run, m.doc, reason, error);
  }
}

async function failAndRelease(run: BatchRun, m: Marked, reason: string, how: { objectKept: boolean; keyFailure?: boolean }): Promise<void> {
  fail(run, m.doc, reason);
  await release(run, m, { reason, ...how });
}

/**
 * Ends this run's mark so the next run retries the item at once. When the object certainly
 * remains, `gcState` goes too (the app may reference the media again); when it may be gone
 * (a timeout, a server error, an unconfirmed key), `gcState: "deleting"` stays, so the app
 * keeps off it, but with no `gcMarkedAt` it no longer holds other runs off. A key's own
 * failures are counted in `gcFailures` (eligibility.ts sets the item aside at the limit).
 */
async function release(run: BatchRun, m: Marked, how: { reason: string; objectKept: boolean; keyFailure?: boolean }): Promise<void> {
  const update: Record<string, unknown> = { gcMarkedAt: FieldValue.delete(), gcRunId: FieldValue.delete(), gcLastError: how.reason.slice(0, 1000) };
  if (how.objectKept) update.gcState = FieldValue.delete();
  if (how.keyFailure) update.gcFailures = FieldValue.increment(1);
  try {
    await m.doc.ref.update(update, { lastUpdateTime: m.version });
  } catch (error) {
    // Changed since this run's mark: not this run's to release (its lease still ends it).
    if (isConflict(error)) run.logger.warn("mediaGC.release_skipped", { mediaId: m.doc.id, reason: "changed since marked" });
    else run.logger.error("mediaGC.release_failed", { mediaId: m.doc.id, error });
  }
}

function fail(run: BatchRun, doc: QueryDocumentSnapshot, reason: string, error?: unknown): void {
  const storageKey = doc.get("storageKey");
  run.report.failed.push({ id: doc.id, storageKey, reason });
  run.logger.error("mediaGC.item_failed", { mediaId: doc.id, storageKey, reason, ...(error === undefined ? {} : { error }) });
}
