import type { Clock } from "./clock";
import type { LogFields, Logger } from "./logger";
import { sleep } from "./pace";

/**
 * The loop of every long-running worker: run a round (fetch and handle), wait the delay the round
 * asks for, again; log `worker.heartbeat` every `heartbeatMs`; stop gracefully. States: idle →
 * running → stopping → stopped. `stop()` ends the wait at once and never cuts a round in half:
 * `done` resolves once the round in hand has finished.
 *
 * A round that throws is logged (`<worker>` in `worker`, the error with its stack) and the loop
 * goes on after `onError`'s delay: one failure must not end a process that will often succeed
 * next time (Firestore briefly unavailable).
 */
export interface PollingLoopOptions {
  /** The job, as the log field `worker` names it. */
  worker: string;
  clock: Clock;
  logger: Logger;
  heartbeatMs: number;
  /** One round; resolves to the delay before the next, in ms (0: at once). */
  round: () => Promise<number>;
  /** The delay after a round that threw, in ms; the event `worker.round_failed` is logged first. */
  onError: (error: unknown) => number;
  /** The worker's own heartbeat fields (counts, queue depth); a failure leaves them out of that beat. */
  heartbeatFields?: () => LogFields | Promise<LogFields>;
}

export type LoopState = "idle" | "running" | "stopping" | "stopped";

export class PollingLoop {
  private state: LoopState = "idle";
  private readonly stopping = new AbortController();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private inRound = false;
  private nextRoundAt: number | null = null;
  private finished: Promise<void> | undefined;
  rounds = 0;
  failedRounds = 0;

  constructor(private readonly options: PollingLoopOptions) {}

  get current(): LoopState {
    return this.state;
  }

  /** Starts the loop; the promise (also `done`) resolves once it has stopped. */
  start(): Promise<void> {
    if (this.state !== "idle") throw new Error(`${this.options.worker} loop already ${this.state}`);
    this.state = "running";
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.options.heartbeatMs);
    this.heartbeatTimer.unref();
    this.finished = this.run();
    return this.finished;
  }

  /** Resolves when the loop has stopped (at once if it never started). */
  get done(): Promise<void> {
    return this.finished ?? Promise.resolve();
  }

  /** Ends the wait and schedules no further round; `done` resolves when the round in hand ends. */
  stop(): Promise<void> {
    if (this.state === "running") this.state = "stopping";
    if (this.state === "idle") this.state = "stopped";
    clearInterval(this.heartbeatTimer);
    this.stopping.abort();
    return this.done;
  }

  private async run(): Promise<void> {
    const { round, onError, logger, worker, clock } = this.options;
    while (this.state === "running") {
      this.rounds++;
      this.inRound = true;
      let delayMs: number;
      try {
        delayMs = await round();
      } catch (error) {
        this.failedRounds++;
        logger.error("worker.round_failed", { worker, error });
        delayMs = onError(error);
      } finally {
        this.inRound = false;
      }
      if (this.state !== "running") break;
      this.nextRoundAt = clock.now() + delayMs;
      await sleep(delayMs, this.stopping.signal);
      this.nextRoundAt = null;
    }
    this.state = "stopped";
  }

  private async heartbeat(): Promise<void> {
    const { logger, worker, heartbeatFields } = this.options;
    let fields: LogFields = {};
    try {
      fields = (await heartbeatFields?.()) ?? {};
    } catch (error) {
      // A heartbeat must not stop the worker; the failure shows in the log instead of the fields.
      logger.warn("worker.heartbeat_failed", { worker, error });
    }
    logger.info("worker.heartbeat", {
      worker,
      rounds: this.rounds,
      failedRounds: this.failedRounds,
      running: this.inRound,
      nextRoundAt: this.nextRoundAt === null ? null : new Date(this.nextRoundAt).toISOString(),
      heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1e5) / 10,
      ...fields,
    });
  }
}
