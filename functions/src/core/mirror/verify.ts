import { randomUUID } from "node:crypto";
import type { QueryDocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS, historyItemPath } from "../collections";
import { countOf } from "../count";
import type { WorkerDeps } from "../deps";
import { unlessAbandoned } from "../abandon";
import { Pacer } from "../pace";
import { progressTotal, type OnProgress } from "../progress";
import { driftTotal, emptyDrift, recordDrift, unpublishableTotal, usableOwner } from "./drift";
import {
  checkWalkOptions,
  countHistoryItems,
  DEFAULT_WALK_RATE,
  largestDoc,
  PageSizer,
  pageSizeFor,
  readHistoryPage,
  readMirrorPage,
  type WalkCursor,
} from "./historyWalk";
import { judgeHistoryItems, tallyJudged, type ItemTally } from "./judgeItems";
import { emptyTally, enqueueRepairs, type ApplyTask, type RepairTally, type RepairTarget } from "./repairTasks";
import { COUNT_CAP, RUN_TIME_BUDGET_MS } from "../limits";

/**
 * `mirrorVerify`, the drift report: compares every history item with its mirror doc, then every
 * mirror doc with its source, by the same rule as the backfill and the queue (drift.ts). It
 * reports counts and a sample of:
 *
 * - `missing`: public items without a mirror doc;
 * - `differs`: mirror docs whose fields differ from what an upsert would write (the fields named);
 * - `sourcePrivate`, `sourceDeleted`: mirror docs of items that are not public, or deleted;
 * - `sourceGone`: mirror docs whose item does not exist;
 * - `unowned`: mirror docs whose `uid` is not a usable id (no task may change them: plan.ts), reported
 *   once, by the item of that historyId when one was met.
 *
 * and, apart (`unpublishable`: not the mirror out of line, and no task can change them; they do not
 * make `inSync` false, drift.ts's UNPUBLISHABLE):
 *
 * - `conflict`: PUBLIC items whose historyId's mirror doc belongs to another user's item (two
 *   users' items with one historyId: the mirror keeps the one it has, and the queue refuses to
 *   touch another user's doc). A private or deleted item with such a historyId is not a conflict:
 *   it is not public, and nothing of it is published;
 * - `tooLarge`: public items whose mirror doc would pass Firestore's 1 MiB limit (the queue
 *   dead-letters their tasks, so none is enqueued).
 *
 * With `repair`, it enqueues an upsert for each of the first five kinds (the fix of each is what
 * an upsert does: publish, rewrite, unpublish), applied by the queue, or at once with `apply`. The
 * others are left to an operator (`repair.unrepairable`). Reads only otherwise: no cursor, no lease.
 */
export interface VerifyOptions {
  repair?: boolean;
  /** Documents read a second, at most, in each walk (default DEFAULT_WALK_RATE). */
  rate?: number;
  /** Documents a page at most (default: from the rate, as the backfill's). */
  pageSize?: number;
  timeBudgetMs?: number;
  signal?: AbortSignal;
  /** Stops at once, the page in hand left unfinished (as the backfill's). */
  abandon?: AbortSignal;
  onProgress?: OnProgress;
  apply?: ApplyTask;
}

export interface VerifyReport extends ItemTally {
  /** Complete, and no drift (the unpublishable kinds aside). */
  inSync: boolean;
  complete: boolean;
  stoppedBy?: string;
  scanned: { historyItems: number; notHistoryItems: number; mirrorDocs: number };
  /** Drift summed, the unpublishable kinds aside. */
  driftCount: number;
  /** Items the mirror cannot hold (`conflict`, `tooLarge`), summed. */
  unpublishable: number;
  /** With `repair`: the upsert tasks enqueued, and the drift no task can fix. */
  repair?: RepairTally & { unrepairable: number };
  runId: string;
  durationMs: number;
}

/** Mirror docs with an unusable `uid` that the item walk already reported, so the mirror walk does not report them twice (bounded). */
const MAX_REMEMBERED = 10_000;

export async function verifyMirror(deps: WorkerDeps, options: VerifyOptions = {}): Promise<VerifyReport> {
  checkWalkOptions(options);
  const { clock } = deps;
  const started = clock.now();
  const runId = randomUUID();
  const logger = deps.logger.child({ worker: "mirrorVerify", runId, repair: options.repair === true });
  const report: VerifyReport = {
    inSync: false,
    complete: false,
    scanned: { historyItems: 0, notHistoryItems: 0, mirrorDocs: 0 },
    matching: 0,
    notPublic: 0,
    driftCount: 0,
    unpublishable: 0,
    drift: emptyDrift(),
    ...(options.repair ? { repair: { ...emptyTally(Boolean(options.apply)), unrepairable: 0 } } : {}),
    runId,
    durationMs: 0,
  };
  const walk = new Walk(deps, options, report);
  const walked = await unlessAbandoned(walk.both(), options.abandon, (error) =>
    logger.warn("mirror.verify.abandoned_page_failed", { error }),
  );
  if (walked === undefined) {
    report.complete = false;
    report.stoppedBy = "signal";
  }
  report.driftCount = driftTotal(report.drift);
  report.unpublishable = unpublishableTotal(report.drift);
  report.inSync = report.complete && report.driftCount === 0;
  if (report.repair) report.repair.unrepairable = report.unpublishable + report.drift.unowned.count;
  report.durationMs = clock.now() - started;
  logger.info("mirror.verify.completed", {
    complete: report.complete,
    ...(report.stoppedBy ? { stoppedBy: report.stoppedBy } : {}),
    driftCount: report.driftCount,
    ...Object.fromEntries(Object.entries(report.drift).map(([kind, { count }]) => [kind, count])),
    ...(report.repair ? { enqueued: report.repair.enqueued } : {}),
    durationMs: report.durationMs,
  });
  return report;
}

/** The two walks of one verify run, which share its pacing, deadline and repairs. */
class Walk {
  private readonly pacer: Pacer;
  private readonly deadlineMs: number;
  private readonly sizer: PageSizer;
  private limit = 0;
  /** Mirror docs with an unusable uid already reported by the item walk. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly deps: WorkerDeps,
    private readonly options: VerifyOptions,
    private readonly report: VerifyReport,
  ) {
    const rate = options.rate ?? DEFAULT_WALK_RATE;
    this.pacer = new Pacer(rate, deps.clock);
    this.sizer = new PageSizer(options.pageSize ?? pageSizeFor(rate), options.pageSize);
    this.deadlineMs = deps.clock.now() + (options.timeBudgetMs ?? RUN_TIME_BUDGET_MS);
  }

  async both(): Promise<true> {
    if (await this.items()) await this.mirrors();
    return true;
  }

  private stopReason(): string | undefined {
    return this.options.signal?.aborted ? "signal" : this.deps.clock.now() >= this.deadlineMs ? "time budget" : undefined;
  }

  /** False (and `stoppedBy` set) when the run must stop before the next page; paces the page first. */
  private async mayGoOn(): Promise<boolean> {
    this.limit = this.sizer.next;
    if (!this.stopReason()) await this.pacer.reserve(this.limit, this.options.signal);
    this.report.stoppedBy = this.stopReason();
    return this.report.stoppedBy === undefined && !this.options.abandon?.aborted;
  }

  private async repair(targets: RepairTarget[]): Promise<void> {
    const tally = this.report.repair;
    if (tally && targets.length) await enqueueRepairs(this.deps.db, this.report.runId, targets, tally, this.options.apply);
  }

  /** A phase's progress total, when someone listens. */
  private total(phase: string, count: () => Promise<number>): Promise<number | undefined> {
    return this.options.onProgress ? progressTotal(this.deps.logger, phase, count) : Promise.resolve(undefined);
  }

  private progress(phase: string, done: number, total: number | undefined): void {
    const { drift, repair } = this.report;
    const counts: Record<string, number> = {
      matching: this.report.matching,
      drift: driftTotal(drift),
      ...(repair ? { enqueued: repair.enqueued } : {}),
    };
    this.options.onProgress?.({ run: "mirror verify", phase, done, total, counts });
  }

  /** Every history item against its mirror doc. True when the walk reached the end. */
  async items(): Promise<boolean> {
    const { db } = this.deps;
    const total = await this.total("history items", () => countHistoryItems(db, {}));
    let cursor: WalkCursor | undefined;
    const scanned = this.report.scanned;
    for (;;) {
      if (!(await this.mayGoOn())) return false;
      const page = await readHistoryPage(db, {}, cursor, this.limit);
      this.pacer.unused(this.limit - page.items.length - page.notItems);
      this.sizer.record(page.largestBytes);
      const judged = await judgeHistoryItems(db, page.items);
      for (const { item, mirror } of judged)
        if (mirror && !usableOwner(mirror.uid) && this.reported.size < MAX_REMEMBERED) this.reported.add(item.historyId);
      await this.repair(tallyJudged(judged, this.report));
      cursor = page.cursor ?? cursor;
      scanned.historyItems += page.items.length;
      scanned.notHistoryItems += page.notItems;
      this.progress("history items", scanned.historyItems + scanned.notHistoryItems, total);
      if (page.last) return true;
    }
  }

  /** Every mirror doc against its source: finds those whose item is gone, or that name no usable owner. */
  async mirrors(): Promise<void> {
    const { db } = this.deps;
    const total = await this.total("mirror docs", () => countOf(db.collection(COLLECTIONS.publicGenerations).limit(COUNT_CAP)));
    let after: string | undefined;
    for (;;) {
      if (!(await this.mayGoOn())) return;
      const page = await readMirrorPage(db, after, this.limit);
      this.pacer.unused(this.limit - page.docs.length);
      this.sizer.record(largestDoc(page.docs));
      await this.repair(await this.orphans(page.docs));
      after = page.docs[page.docs.length - 1]?.id ?? after;
      this.report.scanned.mirrorDocs += page.docs.length;
      this.progress("mirror docs", this.report.scanned.mirrorDocs, total);
      if (page.last) {
        this.report.complete = true;
        return;
      }
    }
  }

  /** Records the page's mirror docs whose source is gone or unknown; returns the ones an upsert removes. */
  private async orphans(docs: QueryDocumentSnapshot[]): Promise<RepairTarget[]> {
    const { db } = this.deps;
    const owned: RepairTarget[] = [];
    for (const doc of docs) {
      const uid = doc.get("uid");
      if (usableOwner(uid)) owned.push({ uid, historyId: doc.id });
      else if (!this.reported.has(doc.id)) recordDrift(this.report.drift, "unowned", { uid: null, historyId: doc.id });
    }
    if (!owned.length) return [];
    // Whether each exists, no field: a source's size is not bounded by its mirror doc's.
    const sources = await db.getAll(...owned.map((t) => db.doc(historyItemPath(t.uid, t.historyId))), { fieldMask: [] });
    const gone = owned.filter((_, i) => !sources[i].exists);
    for (const target of gone) recordDrift(this.report.drift, "sourceGone", { ...target });
    return gone;
  }
}
