import type { Clock } from "./clock";
import type { Logger } from "./logger";
import { PollingLoop } from "./pollingLoop";

/**
 * Runs a job at start and then every `intervalMs`, one run at a time, on the polling loop
 * (pollingLoop.ts: heartbeat, graceful stop). `stop()` cancels the wait and resolves once a run
 * in progress has completed, so a signal never cuts a run in half. A failed run is logged and the
 * next one comes `intervalMs` later, as after a good one.
 */
export class PeriodicWorker {
  private readonly loop: PollingLoop;

  constructor(
    private readonly worker: string,
    job: () => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly deps: { clock: Clock; logger: Logger; heartbeatMs: number },
  ) {
    this.loop = new PollingLoop({
      worker,
      clock: deps.clock,
      logger: deps.logger,
      heartbeatMs: deps.heartbeatMs,
      round: async () => {
        await job();
        return intervalMs;
      },
      onError: () => intervalMs,
    });
  }

  get runs(): number {
    return this.loop.rounds;
  }

  get failures(): number {
    return this.loop.failedRounds;
  }

  /** Resolves once the worker has stopped. */
  start(): Promise<void> {
    this.deps.logger.info("worker.started", { worker: this.worker, intervalMs: this.intervalMs });
    return this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    this.deps.logger.info("worker.stopped", { worker: this.worker, runs: this.runs, failures: this.failures });
  }
}
