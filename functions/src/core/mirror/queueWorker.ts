import { randomUUID } from "node:crypto";
import type { QueryDocumentSnapshot } from "firebase-admin/firestore";
import { countOf } from "../count";
import type { WorkerDeps } from "../deps";
import type { LogFields } from "../logger";
import { HEARTBEAT_QUEUE_DEPTH_CAP } from "../limits";
import { sleep } from "../pace";
import { PollingLoop } from "../pollingLoop";
import { paceAfterPoll, type PollOutcome, type PollPace } from "./backoff";
import { DueTaskFinder, pendingQuery } from "./dueTasks";
import { releaseTask, type Claim } from "./lease";
import { PROGRESSED } from "./processMirrorTask";
import { ProfileCache } from "./profiles";
import { processTaskBatch } from "./taskBatch";
import { unclaimed } from "./taskRun";

const WORKER = "mirrorQueue";

export interface QueueWorkerStats {
  processed: number;
  failed: number;
  polls: number;
}

/**
 * The continuous mirror worker (seed section 1): poll, claim, process with a small pool, sleep.
 * The sleep is the poll interval while work flows and doubles up to the max backoff while the
 * queue is empty or a poll moved nothing on; it polls again at once after a full batch that made
 * progress, and after a full batch other workers took whole (RACED_POLLS_IN_A_ROW times in a row at
 * most), so tasks it cannot move (held by other workers, unclaimable) never make it spin.
 * States: running → stopping → stopped. `stop()` ends polling, lets the batch in hand finish for a
 * grace period, then hands any task still unfinished back to the queue.
 */
export class MirrorQueueWorker {
  readonly workerId: string;
  private readonly inFlight = new Map<string, Claim>();
  private readonly abandoned = new Set<Promise<unknown>>();
  private readonly loop: PollingLoop;
  private readonly stats: QueueWorkerStats = { processed: 0, failed: 0, polls: 0 };
  private lastBeat = { at: 0, processed: 0 };
  private pace: PollPace;
  private readonly finder: DueTaskFinder;
  private readonly profiles = new ProfileCache();
  /** The loop's next page, read while a full batch is processed (see `poll`); the next poll takes it, whatever its read came to. */
  private nextPage?: Promise<QueryDocumentSnapshot[]>;

  constructor(
    private readonly deps: WorkerDeps,
    options: { workerId?: string } = {},
  ) {
    this.workerId = options.workerId ?? `mirror-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.finder = new DueTaskFinder(deps.db, { leaseMs: deps.config.MIRROR_LEASE_MS, logger: deps.logger });
    const { config, clock, logger } = deps;
    this.pace = { delayMs: config.MIRROR_POLL_INTERVAL_MS, racedPolls: 0 };
    this.loop = new PollingLoop({
      worker: WORKER,
      clock,
      logger,
      heartbeatMs: config.WORKER_HEARTBEAT_MS,
      round: async () => this.nextDelayMs(await this.poll(true)),
      // After an error, back off: Firestore may be briefly unavailable.
      onError: () => this.nextDelayMs({ found: 0, progressed: 0, lostRaces: 0 }),
      heartbeatFields: () => this.heartbeatFields(),
    });
  }

  get running(): boolean {
    return this.loop.current === "running";
  }

  snapshotStats(): QueueWorkerStats {
    return { ...this.stats };
  }

  /** Resolves once the worker has stopped. */
  start(): Promise<void> {
    const { config, logger, clock } = this.deps;
    logger.info("worker.started", {
      worker: WORKER,
      workerId: this.workerId,
      pollIntervalMs: config.MIRROR_POLL_INTERVAL_MS,
      maxBackoffMs: config.MIRROR_MAX_BACKOFF_MS,
      batchLimit: config.MIRROR_BATCH_LIMIT,
      poolSize: config.MIRROR_POOL_SIZE,
      leaseMs: config.MIRROR_LEASE_MS,
    });
    this.lastBeat = { at: clock.now(), processed: 0 };
    return this.loop.start();
  }

  /** The sleep after a poll (backoff.ts, paceAfterPoll). */
  private nextDelayMs(poll: PollOutcome): number {
    const { config } = this.deps;
    this.pace = paceAfterPoll(this.pace, poll, {
      batchLimit: config.MIRROR_BATCH_LIMIT,
      intervalMs: config.MIRROR_POLL_INTERVAL_MS,
      maxMs: config.MIRROR_MAX_BACKOFF_MS,
    });
    return this.pace.delayMs;
  }

  /** One poll: fetch up to the batch limit and process it (taskBatch.ts), `pool` transactions at once. */
  pollOnce(): Promise<PollOutcome> {
    return this.poll(false);
  }

  /**
   * A poll; with `readAhead` (the loop's polls), a full batch's processing overlaps the read of the
   * next page, whose round trip would otherwise come between batches. The page leaves out the
   * batch's tasks (DueTaskFinder.find `exclude`), which the queries still return while the batch
   * applies them. A task in it that changes before its turn (another worker took it) fails its
   * claim's precondition like any raced task; after a batch that lost a race the page is dropped
   * (`moveAway`). A page whose read failed fails the next poll, once.
   */
  private async poll(readAhead: boolean): Promise<PollOutcome> {
    const { clock, config } = this.deps;
    this.stats.polls++;
    const ahead = this.nextPage;
    this.nextPage = undefined;
    const due = await (ahead ?? this.finder.find(clock.now(), config.MIRROR_BATCH_LIMIT));
    if (readAhead && due.length >= config.MIRROR_BATCH_LIMIT && this.running) {
      // Without this batch's tasks: they are still pending, failed or expired until it has applied them.
      this.nextPage = this.finder.find(clock.now(), config.MIRROR_BATCH_LIMIT, new Set(due.map((snap) => snap.id)));
      // Its failure is the next poll's, which awaits it; until then it must not count as unhandled.
      this.nextPage.catch(() => undefined);
    }
    const results = await processTaskBatch(this.deps, due, {
      workerId: this.workerId,
      inFlight: this.inFlight,
      abandoned: this.abandoned,
      pool: config.MIRROR_POOL_SIZE,
      profiles: this.profiles,
    }).catch((error) => due.map((snap) => unclaimed(snap.id, error, this.deps)));
    const progressed = results.filter((r) => PROGRESSED.includes(r.status)).length;
    this.stats.processed += results.filter((r) => r.status === "done").length;
    this.stats.failed += progressed - results.filter((r) => r.status === "done").length;
    // Another worker took some of these tasks: this one moves elsewhere in the queue, and drops the
    // page it read ahead from here (most likely the other worker's next page, which it would lose too).
    const lostRaces = results.filter((r) => r.lostRace).length;
    if (lostRaces > 0) await this.moveAway();
    return { found: due.length, progressed, lostRaces };
  }

  /**
   * After a lost race: the pending tasks of the page read ahead are dropped (found again later, by
   * this worker or another); what only the recovery and audit queries find is kept. The scatter
   * waits for that read, which sets the cursor it moves.
   */
  private async moveAway(): Promise<void> {
    const page = this.nextPage && (await this.nextPage.catch(() => []));
    const kept = page?.filter((snap) => snap.get("status") !== "pending") ?? [];
    this.nextPage = kept.length ? Promise.resolve(kept) : undefined;
    this.finder.scatter();
  }

  async stop(): Promise<{ released: number }> {
    if (this.loop.current !== "running") return { released: 0 };
    const { config, logger } = this.deps;
    logger.info("worker.stopping", { worker: WORKER, workerId: this.workerId, inFlight: this.inFlight.size });
    // The batch in hand, and applies given up past their deadline that are still settling.
    const finished = Promise.all([this.loop.stop(), ...this.abandoned, this.nextPage?.catch(() => undefined)]).then(
      () => "finished" as const,
    );
    const graceTimer = new AbortController();
    const graceOver = sleep(config.MIRROR_SHUTDOWN_GRACE_MS, graceTimer.signal).then(() => "grace-over" as const);
    const outcome = await Promise.race([finished, graceOver]);
    graceTimer.abort();
    const released = outcome === "grace-over" ? await this.releaseInFlight() : 0;
    logger.info("worker.stopped", { worker: WORKER, workerId: this.workerId, ...this.stats, released });
    return { released };
  }

  /** Hands the tasks still in hand back to the queue; one that cannot be released waits for its lease to expire. */
  private async releaseInFlight(): Promise<number> {
    let released = 0;
    for (const claim of this.inFlight.values()) {
      try {
        if (await releaseTask(claim)) released++;
      } catch (error) {
        this.deps.logger.warn("worker.release_failed", { worker: WORKER, workerId: this.workerId, taskId: claim.taskId, error });
      }
    }
    return released;
  }

  private async heartbeatFields(): Promise<LogFields> {
    const { clock, db, logger } = this.deps;
    const now = clock.now();
    const seconds = Math.max(1, (now - this.lastBeat.at) / 1000);
    const rate = (this.stats.processed - this.lastBeat.processed) / seconds;
    this.lastBeat = { at: now, processed: this.stats.processed };
    return {
      workerId: this.workerId,
      processed: this.stats.processed,
      failed: this.stats.failed,
      ratePerSec: Math.round(rate * 100) / 100,
      queueDepth: await countOf(pendingQuery(db, HEARTBEAT_QUEUE_DEPTH_CAP)).catch((error) => {
        // The counts above still make the beat; the depth is left out of it.
        logger.warn("worker.queue_depth_failed", { worker: WORKER, workerId: this.workerId, error });
        return null;
      }),
      inFlight: this.inFlight.size,
    };
  }
}
