import { randomUUID } from "node:crypto";
import { Timestamp } from "firebase-admin/firestore";
import type { WorkerDeps } from "../deps";
import { unlessAbandoned } from "../abandon";
import { Pacer } from "../pace";
import { progressTotal, type OnProgress } from "../progress";
import { acquireBackfill, releaseBackfill, saveBackfill, type BackfillState, type CursorLease } from "./backfillCursor";
import { emptyDrift, unpublishableTotal } from "./drift";
import {
  checkWalkOptions,
  countHistoryItems,
  DEFAULT_WALK_RATE,
  PageSizer,
  pageSizeFor,
  readHistoryPage,
  type WalkScope,
} from "./historyWalk";
import { judgeHistoryItems, tallyJudged, type ItemTally } from "./judgeItems";
import { emptyTally, enqueueRepairs, type ApplyTask, type RepairTally } from "./repairTasks";
import { RUN_TIME_BUDGET_MS } from "../limits";

/**
 * `mirrorBackfill`: brings the public mirror in line with every history item (or one user's, or
 * those updated since a time). It walks the items in pages (historyWalk.ts), judges each against
 * its mirror doc with the queue's own public projection (drift.ts), and for each item out of line
 * enqueues an ordinary upsert task (repairTasks.ts), which the queue applies with all its
 * guarantees: the source decides in the apply transaction, a task and the app's tasks order as any
 * two tasks do, and a task is applied once whoever runs it (the trigger, a worker, or this run
 * when it is given `apply`). Items already in line cost reads only.
 *
 * Resumable and single per scope through its cursor doc (backfillCursor.ts); paced to `rate`
 * items a second; stops between pages on `signal`, at the time budget, or when its lease was
 * taken over, saving the cursor. A dry run reads only: it reports what it would enqueue, and
 * neither reads nor moves the cursor.
 */
export interface BackfillOptions {
  dryRun?: boolean;
  /** Only this user's items. */
  uid?: string;
  /** Only items whose `updatedAt` is at or after this time. */
  since?: Timestamp;
  /** Documents walked a second, at most (default DEFAULT_WALK_RATE). */
  rate?: number;
  /** No page starts after this many ms (default a deployed function's); Infinity for none. */
  timeBudgetMs?: number;
  /** Stops the run between pages (the CLI aborts it on SIGTERM/SIGINT). */
  signal?: AbortSignal;
  /**
   * Stops the run at once, the page in hand left unfinished (its items are walked again next
   * time): the lease is given up with the cursor of the last page done. The CLI aborts it on a
   * second signal, or when the page in hand does not end soon after the first.
   */
  abandon?: AbortSignal;
  onProgress?: OnProgress;
  /** Applies each enqueued task at once in this process; without it the trigger or a worker does. */
  apply?: ApplyTask;
  /** Documents a page at most, and of the first (default: about a second's worth at the rate, pageSizeFor; the first FIRST_PAGE_SIZE; fewer when documents are large: PageSizer). */
  pageSize?: number;
  /** The cursor doc's lease (default BACKFILL_LEASE_MS). */
  leaseMs?: number;
  /** Prefix of the lease owner, to tell which process holds it (the CLI: `cli@host:pid`; runWorker: `runWorker`). */
  workerId?: string;
}

export interface BackfillReport extends ItemTally {
  runId: string;
  dryRun: boolean;
  scope: { uid: string | null; since: string | null };
  /** This invocation continued a run an earlier one stopped. */
  resumed: boolean;
  /** The walk reached the last item. */
  complete: boolean;
  /** Why it stopped before: "signal", "time budget", "lease lost", or "busy" (another invocation holds the lease). */
  stoppedBy?: string;
  busy?: { leaseOwner: string; leaseExpiresAt: string };
  /** Documents this invocation read: history items, and others skipped (`notHistoryItems`). */
  walked: number;
  notHistoryItems: number;
  /** Upsert tasks enqueued (a dry run: that it would enqueue), and what they came to when applied here. */
  tasks: RepairTally;
  /** The whole run, its earlier invocations included. */
  run: { walked: number; enqueued: number; startedAt: string };
  itemsPerSecond: number;
  durationMs: number;
}

/** The cursor is saved at most this often (one doc takes about one write a second, sustained). */
export const CURSOR_SAVE_INTERVAL_MS = 1000;

interface Invocation {
  state: BackfillState;
  lease?: CursorLease;
  resumed: boolean;
}

export async function runBackfill(deps: WorkerDeps, options: BackfillOptions = {}): Promise<BackfillReport> {
  checkWalkOptions(options);
  const { db, clock } = deps;
  const scope: WalkScope = { uid: options.uid, since: options.since };
  const dryRun = options.dryRun ?? false;
  const started = clock.now();
  const report = newReport(scope, dryRun, Boolean(options.apply) && !dryRun);

  let run: Invocation;
  if (dryRun) {
    run = { state: { runId: randomUUID(), walked: 0, enqueued: 0, startedAt: Timestamp.fromMillis(started) }, resumed: false };
  } else {
    const acquired = await acquireBackfill(db, scope, `${options.workerId ?? "backfill"}:${randomUUID()}`, started, options.leaseMs);
    if (acquired.kind === "busy") {
      deps.logger.warn("mirror.backfill.busy", {
        leaseOwner: acquired.leaseOwner,
        leaseExpiresAt: acquired.leaseExpiresAt.toDate().toISOString(),
      });
      return {
        ...report,
        stoppedBy: "busy",
        busy: { leaseOwner: acquired.leaseOwner, leaseExpiresAt: acquired.leaseExpiresAt.toDate().toISOString() },
      };
    }
    run = acquired;
  }
  const logger = deps.logger.child({ worker: "mirrorBackfill", runId: run.state.runId, dryRun });
  logger.info("mirror.backfill.started", {
    uid: report.scope.uid,
    since: report.scope.since,
    resumed: run.resumed,
    cursor: run.state.cursor?.path ?? null,
  });
  report.runId = run.state.runId;
  report.resumed = run.resumed;

  try {
    const walked = await unlessAbandoned(walk(deps, options, scope, run, report), options.abandon, (error) =>
      logger.warn("mirror.backfill.abandoned_page_failed", { error }),
    );
    if (walked === undefined && !report.complete) report.stoppedBy = "signal";
  } catch (error) {
    report.stoppedBy = "error";
    await end(run, report, deps).catch((releaseError) => logger.error("mirror.backfill.release_failed", { error: releaseError }));
    throw error;
  }
  await end(run, report, deps);
  report.durationMs = clock.now() - started;
  report.itemsPerSecond = report.durationMs > 0 ? Math.round((report.walked / report.durationMs) * 10_000) / 10 : 0;
  logger.info(report.complete ? "mirror.backfill.completed" : "mirror.backfill.stopped", {
    ...(report.stoppedBy ? { stoppedBy: report.stoppedBy } : {}),
    walked: report.walked,
    ...progressCounts(report),
    itemsPerSecond: report.itemsPerSecond,
    durationMs: report.durationMs,
  });
  return report;
}

function newReport(scope: WalkScope, dryRun: boolean, applies: boolean): BackfillReport {
  return {
    runId: "",
    dryRun,
    scope: { uid: scope.uid ?? null, since: scope.since ? scope.since.toDate().toISOString() : null },
    resumed: false,
    complete: false,
    walked: 0,
    notHistoryItems: 0,
    matching: 0,
    notPublic: 0,
    drift: emptyDrift(),
    tasks: emptyTally(applies),
    run: { walked: 0, enqueued: 0, startedAt: "" },
    itemsPerSecond: 0,
    durationMs: 0,
  };
}

/** Page after page until the last, or a stop; the state and the report follow each page. */
async function walk(deps: WorkerDeps, options: BackfillOptions, scope: WalkScope, run: Invocation, report: BackfillReport): Promise<true> {
  const { db, clock } = deps;
  const rate = options.rate ?? DEFAULT_WALK_RATE;
  const deadlineMs = clock.now() + (options.timeBudgetMs ?? RUN_TIME_BUDGET_MS);
  const total = options.onProgress ? await progressTotal(deps.logger, "history items", () => countHistoryItems(db, scope)) : undefined;
  const pacer = new Pacer(rate, clock);
  const { state } = run;
  const enqueuedBefore = state.enqueued;
  let savedAt = clock.now();
  const stopReason = () => (options.signal?.aborted ? "signal" : clock.now() >= deadlineMs ? "time budget" : undefined);
  const sizer = new PageSizer(options.pageSize ?? pageSizeFor(rate), options.pageSize);
  for (;;) {
    const limit = sizer.next;
    if (!stopReason()) await pacer.reserve(limit, options.signal);
    report.stoppedBy = stopReason();
    if (report.stoppedBy || options.abandon?.aborted) return true;
    const page = await readHistoryPage(db, scope, state.cursor, limit);
    const read = page.items.length + page.notItems;
    pacer.unused(limit - read);
    sizer.record(page.largestBytes);
    const fixes = tallyJudged(await judgeHistoryItems(db, page.items), report);
    if (report.dryRun) report.tasks.enqueued += fixes.length;
    else await enqueueRepairs(db, state.runId, fixes, report.tasks, options.apply);
    // Abandoned meanwhile: the lease is being given up with the cursor before this page.
    if (options.abandon?.aborted) return true;
    state.cursor = page.cursor ?? state.cursor;
    state.walked += read;
    state.enqueued = enqueuedBefore + (report.dryRun ? 0 : report.tasks.enqueued);
    report.walked += read;
    report.notHistoryItems += page.notItems;
    options.onProgress?.({ run: "mirror backfill", phase: "history items", done: state.walked, total, counts: progressCounts(report) });
    if (page.last) {
      report.complete = true;
      return true;
    }
    if (run.lease && clock.now() - savedAt >= CURSOR_SAVE_INTERVAL_MS) {
      if (!(await saveBackfill(run.lease, state, clock.now(), options.leaseMs))) {
        run.lease = undefined;
        report.stoppedBy = "lease lost";
        return true;
      }
      savedAt = clock.now();
    }
  }
}

function progressCounts(report: BackfillReport): Record<string, number> {
  const { drift, tasks } = report;
  return {
    [report.dryRun ? "wouldEnqueue" : "enqueued"]: tasks.enqueued,
    matching: report.matching,
    notPublic: report.notPublic,
    missing: drift.missing.count,
    differs: drift.differs.count,
    unpublish: drift.sourcePrivate.count + drift.sourceDeleted.count,
    unpublishable: unpublishableTotal(drift),
  };
}

/** Saves the cursor and gives the lease up, recording how the invocation ended. */
async function end(run: Invocation, report: BackfillReport, deps: WorkerDeps): Promise<void> {
  const { state } = run;
  report.run = { walked: state.walked, enqueued: state.enqueued, startedAt: state.startedAt.toDate().toISOString() };
  if (!run.lease) return;
  const { lease } = run;
  run.lease = undefined;
  let released = false;
  // An abandoned page's cursor save may land first and move the lease's version: give up the lease at that version.
  for (let attempt = 0; attempt < 2 && !released; attempt++) {
    const version = lease.version;
    released = await releaseBackfill(lease, state, { complete: report.complete, stoppedBy: report.stoppedBy }, deps.clock.now());
    if (!released && lease.version.isEqual(version)) break;
  }
  if (!released) {
    // Another invocation took the run over after our last save; it goes on from there.
    if (!report.complete) report.stoppedBy ??= "lease lost";
    deps.logger.warn("mirror.backfill.lease_lost", { runId: state.runId });
  }
}
