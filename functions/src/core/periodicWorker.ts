import type { Logger } from "./logger";
import { errorMessage } from "./errors";

/**
 * Runs a job at start and then every `intervalMs`, one run at a time, with a heartbeat line every
 * `heartbeatMs`. `stop()` cancels the wait and resolves once a run in progress has completed, so a
 * signal never cuts a run in half.
 */
export class PeriodicWorker {
  private timer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private nextRunAt: number | undefined;
  private current: Promise<void> | undefined;
  private stopped = false;
  private finish: (() => void) | undefined;
  readonly done: Promise<void>;
  runs = 0;
  failures = 0;

  constructor(
    private readonly name: string,
    private readonly job: () => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly heartbeatMs = 60_000,
  ) {
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  start(): Promise<void> {
    this.logger.info("worker.started", { worker: this.name, intervalMs: this.intervalMs });
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.heartbeatTimer.unref();
    void this.tick();
    return this.done;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    this.current = this.runOnce();
    await this.current;
    this.current = undefined;
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.intervalMs);
    this.nextRunAt = Date.now() + this.intervalMs;
    this.heartbeat();
  }

  private heartbeat(): void {
    this.logger.info("worker.heartbeat", {
      worker: this.name,
      runs: this.runs,
      failures: this.failures,
      running: this.current !== undefined,
      nextRunAt: this.nextRunAt ? new Date(this.nextRunAt).toISOString() : null,
      heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1e5) / 10,
    });
  }

  private async runOnce(): Promise<void> {
    this.runs++;
    try {
      await this.job();
    } catch (error) {
      // The next run may succeed; one failure must not end the process.
      this.failures++;
      this.logger.error("worker.run_failed", { worker: this.name, error: errorMessage(error) });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.heartbeatTimer);
    await this.current;
    this.logger.info("worker.stopped", { worker: this.name, runs: this.runs, failures: this.failures });
    this.finish?.();
  }
}
