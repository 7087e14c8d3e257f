import { randomUUID } from "node:crypto";
import { countOf } from "../count";
import type { WorkerDeps } from "../deps";
import { nextPollDelayMs } from "./backoff";
import { DueTaskFinder, pendingQuery } from "./dueTasks";
import { releaseTask, type Claim } from "./lease";
import { PROGRESSED } from "./processMirrorTask";
import { ProfileCache } from "./profiles";
import { processTaskBatch } from "./taskBatch";
import { unclaimed } from "./taskRun";

/**
 * The continuous mirror worker (seed section 1): poll, claim, process with a small pool, sleep.
 * The sleep is the poll interval while work flows and doubles up to the max backoff while the
 * queue is empty or a poll moved nothing on; it polls again at once only after a full batch that
 * made progress, so tasks it cannot move (held by other workers, unclaimable) never make it spin.
 * States: running → stopping → stopped. `stop()` ends polling, lets the batch in hand finish for a
 * grace period, then hands any task still unfinished back to the queue.
 */
export interface PollResult {
  found: number;
  /** Tasks whose state the poll changed. */
  progressed: number;
}

export interface QueueWorkerStats {
  processed: number;
  failed: number;
  polls: number;
}

export class MirrorQueueWorker {
  readonly workerId: string;
  private state: "idle" | "running" | "stopping" | "stopped" = "idle";
  private readonly inFlight = new Map<string, Claim>();
  private readonly abandoned = new Set<Promise<unknown>>();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private readonly stats: QueueWorkerStats = { processed: 0, failed: 0, polls: 0 };
  private lastBeat = { at: 0, processed: 0 };
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly finder: DueTaskFinder;
  private readonly profiles = new ProfileCache();

  constructor(
    private readonly deps: WorkerDeps,
    options: { workerId?: string } = {},
  ) {
    this.workerId = options.workerId ?? `mirror-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.finder = new DueTaskFinder(deps.db);
  }

  get running(): boolean {
    return this.state === "running";
  }

  snapshotStats(): QueueWorkerStats {
    return { ...this.stats };
  }

  start(): Promise<void> {
    if (this.state !== "idle") throw new Error(`worker already ${this.state}`);
    this.state = "running";
    const { config, logger, clock } = this.deps;
    logger.info("worker.started", {
      worker: "mirrorQueue",
      workerId: this.workerId,
      pollIntervalMs: config.MIRROR_POLL_INTERVAL_MS,
      maxBackoffMs: config.MIRROR_MAX_BACKOFF_MS,
      batchLimit: config.MIRROR_BATCH_LIMIT,
      poolSize: config.MIRROR_POOL_SIZE,
      leaseMs: config.MIRROR_LEASE_MS,
    });
    this.lastBeat = { at: clock.now(), processed: 0 };
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), config.WORKER_HEARTBEAT_MS);
    this.heartbeatTimer.unref();
    this.loop = this.run();
    return this.loop;
  }

  private async run(): Promise<void> {
    const { config, logger } = this.deps;
    let delay = config.MIRROR_POLL_INTERVAL_MS;
    while (this.state === "running") {
      let poll: PollResult = { found: 0, progressed: 0 };
      try {
        poll = await this.pollOnce();
      } catch (error) {
        // After an error, back off: Firestore may be briefly unavailable.
        logger.error("worker.poll_failed", { workerId: this.workerId, error });
      }
      delay = nextPollDelayMs(delay, poll.progressed > 0, config.MIRROR_POLL_INTERVAL_MS, config.MIRROR_MAX_BACKOFF_MS);
      // A full batch that moved tasks on means more is waiting: poll again at once.
      if (poll.found >= config.MIRROR_BATCH_LIMIT && poll.progressed > 0) continue;
      await this.sleep(delay);
    }
  }

  /** One poll: fetch up to the batch limit and process it (taskBatch.ts), `pool` transactions at once. */
  async pollOnce(): Promise<PollResult> {
    const { clock, config } = this.deps;
    this.stats.polls++;
    const due = await this.finder.find(clock.now(), config.MIRROR_BATCH_LIMIT);
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
    // Another worker took some of these tasks: this one moves elsewhere in the queue.
    if (results.some((r) => r.lostRace)) this.finder.scatter();
    return { found: due.length, progressed };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  async stop(): Promise<{ released: number }> {
    if (this.state !== "running") return { released: 0 };
    const { config, logger } = this.deps;
    this.state = "stopping";
    logger.info("worker.stopping", { workerId: this.workerId, inFlight: this.inFlight.size });
    this.wake?.();
    clearInterval(this.heartbeatTimer);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<"grace-over">((resolve) => {
      timer = setTimeout(() => resolve("grace-over"), config.MIRROR_SHUTDOWN_GRACE_MS);
    });
    // The batch in hand, and applies given up past their deadline that are still settling.
    const finished = Promise.all([this.loop!, ...this.abandoned]).then(() => "finished" as const);
    const outcome = await Promise.race([finished, graceOver]);
    clearTimeout(timer);
    let released = 0;
    if (outcome === "grace-over") {
      for (const claim of this.inFlight.values()) {
        if (await releaseTask(claim).catch(() => false)) released++;
      }
    }
    this.state = "stopped";
    logger.info("worker.stopped", { workerId: this.workerId, ...this.stats, released });
    return { released };
  }

  private async heartbeat(): Promise<void> {
    const { clock, db, logger } = this.deps;
    const now = clock.now();
    const seconds = Math.max(1, (now - this.lastBeat.at) / 1000);
    const rate = (this.stats.processed - this.lastBeat.processed) / seconds;
    this.lastBeat = { at: now, processed: this.stats.processed };
    let queueDepth: number | undefined;
    try {
      queueDepth = await countOf(pendingQuery(db, 100_000));
    } catch {
      queueDepth = undefined;
    }
    logger.info("worker.heartbeat", {
      workerId: this.workerId,
      processed: this.stats.processed,
      failed: this.stats.failed,
      ratePerSec: Math.round(rate * 100) / 100,
      queueDepth,
      inFlight: this.inFlight.size,
      heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1e5) / 10,
    });
  }
}
