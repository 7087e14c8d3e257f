import { FieldValue, Timestamp, type Firestore, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import type { Clock } from "../clock";
import { COLLECTIONS } from "../collections";
import { errorMessage, isConflict } from "../errors";
import type { Logger } from "../logger";
import type { MediaStore } from "../storage/mediaStore";
import { deleteInParts, type BulkDeleteResult } from "./bulkDelete";
import { deadlineSignal } from "./deadline";
import { GC_MARK_LEASE_MS, gcFailuresOf, hasLiveMark, mediaSize } from "./eligibility";
import { countSkip, GC_REASON_MAX_CHARS, GC_REPORT_LIST_LIMIT, type MediaGCDeleteReport } from "./report";
import { sameKeySpellings } from "./storageKeys";

/** One run's context for its batches. */
export interface BatchRun {
  db: Firestore;
  clock: Clock;
  store: MediaStore;
  runId: string;
  report: MediaGCDeleteReport;
  logger: Logger;
  /** Clock time at which the run's budget ends: no step starts after it, and a storage request still running then is aborted. */
  deadlineMs: number;
}

/**
 * A batch's storage requests are aborted this long before its marks' lease ends, so that no
 * request of this run is still waiting when another run may take the items over (eligibility.ts).
 */
export const GC_LEASE_MARGIN_MS = 5 * 60_000;

interface Marked {
  doc: QueryDocumentSnapshot;
  key: string;
  /** Update time of the mark: every later write is conditioned on it, so it acts only on this run's own mark. */
  version: Timestamp;
}

/** Why the run must stop after a batch. */
export type BatchStop =
  { kind: "time-budget" } | { kind: "settings"; message: string; setting: string } | { kind: "storage"; message: string };

/**
 * Steps 2 to 5 of the GC protocol for candidates as the query read them (README, "Canvas media GC"):
 *   2. mark each (`gcState: "deleting"`, `gcMarkedAt`, `gcRunId`) in one write conditioned on the
 *      doc being unchanged since it was read: an item that gained a reference meanwhile is skipped;
 *   3. for each storageKey, look for other media docs naming any spelling of it: if any, the
 *      object stays (their record only is deleted), or, if another run is deleting one of them,
 *      the item waits;
 *   4. delete the remaining objects (bulkDelete.ts), before the run's budget and the marks' lease end;
 *   5. delete each record whose object the store confirmed deleted, conditioned on its mark;
 *      release the mark of every other item, conditioned on the mark (step 2's write) being this
 *      run's, so the next run retries it at once.
 * The budget is checked before each step and between the step 3 queries; when it is spent, the
 * items marked are released and the run stops.
 */
export async function collectMediaBatch(run: BatchRun, docs: QueryDocumentSnapshot[]): Promise<BatchStop | undefined> {
  if (budgetSpent(run)) return { kind: "time-budget" };
  const markedAtMs = run.clock.now();
  const byKey = new Map<string, Marked[]>();
  for (const m of await mark(run, docs, markedAtMs)) byKey.set(m.key, [...(byKey.get(m.key) ?? []), m]);

  const exclusive: string[] = [];
  const keys = [...byKey.keys()];
  for (let i = 0; i < keys.length; i += QUERY_CONCURRENCY) {
    if (budgetSpent(run)) return windDown(run, [...exclusive, ...keys.slice(i)], byKey);
    const slice = keys.slice(i, i + QUERY_CONCURRENCY);
    const verdicts = await Promise.all(slice.map((key) => sharedKeyVerdict(run, key, byKey)));
    await Promise.all(
      slice.map(async (key, j) => {
        const items = byKey.get(key)!;
        if (verdicts[j] === "exclusive") return void exclusive.push(key);
        if (verdicts[j] === "busy") {
          countSkip(run.report, "shared-key-busy", items.length);
          return void (await Promise.all(
            items.map((m) => release(run, m, { reason: "another run is deleting a media doc with the same storageKey", objectKept: true })),
          ));
        }
        if (verdicts[j] === "other-spelling") {
          const reason =
            "another media doc names another Unicode spelling of this key: whether the store holds one object or two depends on the store, so the GC leaves both for a person";
          return void (await Promise.all(items.map((m) => failAndRelease(run, m, reason, { objectKept: true, keyFailure: true }))));
        }
        run.logger.info("mediaGC.shared_key", { storageKey: key, mediaIds: items.map((m) => m.doc.id) });
        await Promise.all(items.map((m) => deleteRecord(run, m, { objectDeleted: false })));
      }),
    );
  }
  if (exclusive.length === 0) return undefined;
  if (budgetSpent(run)) return windDown(run, exclusive, byKey);

  const leaseDeadlineMs = markedAtMs + GC_MARK_LEASE_MS - GC_LEASE_MARGIN_MS;
  const { signal, dispose } = deadlineSignal(run.clock, Math.min(run.deadlineMs, leaseDeadlineMs));
  let bulk: BulkDeleteResult;
  try {
    bulk = await deleteInParts(run.store, exclusive, signal);
  } finally {
    dispose();
  }
  await applyResults(run, bulk, byKey);
  return bulk.stop ? stopAfter(run, bulk, byKey, run.deadlineMs <= leaseDeadlineMs) : undefined;
}

const QUERY_CONCURRENCY = 50;

const budgetSpent = (run: BatchRun) => run.clock.now() >= run.deadlineMs;

/** The budget ended before these keys' delete: their items are released untouched. */
async function windDown(run: BatchRun, keys: string[], byKey: Map<string, Marked[]>): Promise<BatchStop> {
  const items = keys.flatMap((k) => byKey.get(k)!);
  countSkip(run.report, "time-budget", items.length);
  await Promise.all(items.map((m) => release(run, m, { reason: "the run's time budget ended before its delete", objectKept: true })));
  return { kind: "time-budget" };
}

async function applyResults(run: BatchRun, bulk: BulkDeleteResult, byKey: Map<string, Marked[]>): Promise<void> {
  const bytes = new Map<string, number>();
  await Promise.all(
    [...bulk.results].flatMap(([key, result]) =>
      byKey.get(key)!.map((m) => {
        if (result.kind === "deleted") return deleteRecord(run, m, { objectDeleted: true, bytes });
        if (result.kind === "refused")
          return failAndRelease(run, m, `storage refused: ${result.message}`, { objectKept: true, keyFailure: true });
        return failAndRelease(run, m, `storage did not confirm the delete: ${result.message}`, { objectKept: false, keyFailure: true });
      }),
    ),
  );
  for (const n of bytes.values()) run.report.bytesFreed += n;
}

/** A request failed as a whole: every key without a result is released, none charged with the failure. */
async function stopAfter(run: BatchRun, bulk: BulkDeleteResult, byKey: Map<string, Marked[]>, budgetFirst: boolean): Promise<BatchStop> {
  const stop = bulk.stop!;
  const items = bulk.unresolved.flatMap((k) => byKey.get(k)!);
  if (stop.kind === "aborted" && budgetFirst) {
    countSkip(run.report, "time-budget", items.length);
    await Promise.all(
      items.map((m) =>
        release(run, m, { reason: "the run's time budget ended during its delete request (the object may be gone)", objectKept: false }),
      ),
    );
    return { kind: "time-budget" };
  }
  const message =
    stop.kind === "aborted"
      ? `no answer within the marks' lease (${(GC_MARK_LEASE_MS - GC_LEASE_MARGIN_MS) / 60_000} minutes): ${stop.message}`
      : stop.message;
  const objectKept = stop.kind === "settings" || (stop.kind === "unavailable" && stop.nothingDeleted);
  run.logger.error("mediaGC.storage_failed", {
    keys: items.length,
    nothingDeleted: objectKept,
    reason: message,
    ...(bulk.error === undefined ? {} : { error: bulk.error }),
  });
  await Promise.all(items.map((m) => failAndRelease(run, m, `storage request failed: ${message}`, { objectKept })));
  return stop.kind === "settings" ? { kind: "settings", message, setting: stop.setting } : { kind: "storage", message };
}

async function mark(run: BatchRun, docs: QueryDocumentSnapshot[], markedAtMs: number): Promise<Marked[]> {
  const marked: Marked[] = [];
  await Promise.all(
    docs.map(async (doc) => {
      try {
        const write = await doc.ref.update(
          { gcState: "deleting", gcMarkedAt: Timestamp.fromMillis(markedAtMs), gcRunId: run.runId },
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

type SharedKeyVerdict = "exclusive" | "shared" | "busy" | "other-spelling";

/**
 * Whether this batch's items are the only media docs naming `key` in any spelling a store may
 * take for it ("exclusive": the object may go), or others name it too: one of them marked by
 * another run ("busy": wait for that run), one naming the very key ("shared": the object stays,
 * the records may go), or only other spellings ("other-spelling": one object on a store that
 * normalizes Unicode, two on one that does not; neither goes). The batch's own items, whatever
 * spelling they name, are not others: all of them are garbage marked by this run, so when
 * several spellings of a key are all in the batch, each goes (an idempotent delete of the one
 * object, or of each). Reads at most one doc beyond the batch's own, and judges by it when
 * several exist: every verdict but "exclusive" keeps the object.
 */
async function sharedKeyVerdict(run: BatchRun, key: string, byKey: Map<string, Marked[]>): Promise<SharedKeyVerdict> {
  const spellings = sameKeySpellings(key);
  const ours = new Set(spellings.flatMap((k) => byKey.get(k) ?? []).map((m) => m.doc.id));
  const named = await run.db
    .collection(COLLECTIONS.canvasMedia)
    .where("storageKey", "in", spellings)
    .limit(ours.size + 1)
    .get();
  const others = named.docs.filter((d) => !ours.has(d.id));
  if (others.length === 0) return "exclusive";
  const now = run.clock.now();
  if (others.some((d) => hasLiveMark(d.data(), now))) return "busy";
  return others.some((d) => d.get("storageKey") === key) ? "shared" : "other-spelling";
}

async function deleteRecord(run: BatchRun, m: Marked, how: { objectDeleted: boolean; bytes?: Map<string, number> }): Promise<void> {
  try {
    await m.doc.ref.delete({ lastUpdateTime: m.version });
    run.report.deleted++;
    const size = mediaSize(m.doc.data());
    // Spellings of one key may name one object (a store that normalizes Unicode): counted once.
    const object = m.key.normalize("NFC");
    if (how.objectDeleted && how.bytes && size !== null) how.bytes.set(object, Math.max(how.bytes.get(object) ?? 0, size));
    if (!how.objectDeleted) run.report.sharedObjectsKept++;
  } catch (error) {
    // The app changed a doc marked "deleting" (the rule it must keep); its record stays for a human.
    const reason = isConflict(error)
      ? `record changed after it was marked for deletion: kept${how.objectDeleted ? " (its object is deleted)" : ""}`
      : `record delete failed: ${errorMessage(error)}`;
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
 * keeps off it, but with no `gcMarkedAt` it no longer holds other runs off. An item read with
 * `gcState: "deleting"` (an earlier run's delete of unknown outcome, or a run that died after
 * its mark) keeps it whatever this run did: this run cannot know its object still exists. A
 * key's own failures are counted in `gcFailures` (eligibility.ts sets the item aside at the limit).
 */
async function release(run: BatchRun, m: Marked, how: { reason: string; objectKept: boolean; keyFailure?: boolean }): Promise<void> {
  const update: Record<string, unknown> = {
    gcMarkedAt: FieldValue.delete(),
    gcRunId: FieldValue.delete(),
    gcLastError: how.reason.slice(0, GC_REASON_MAX_CHARS),
  };
  if (how.objectKept && m.doc.get("gcState") !== "deleting") update.gcState = FieldValue.delete();
  // From the value the mark was conditioned on (judgeMedia let only a valid count through).
  if (how.keyFailure) update.gcFailures = (gcFailuresOf(m.doc.data()) ?? 0) + 1;
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
  const cut = reason.slice(0, GC_REASON_MAX_CHARS);
  run.report.failedCount++;
  if (run.report.failed.length < GC_REPORT_LIST_LIMIT) run.report.failed.push({ id: doc.id, storageKey, reason: cut });
  run.logger.error("mediaGC.item_failed", { mediaId: doc.id, storageKey, reason: cut, ...(error === undefined ? {} : { error }) });
}
