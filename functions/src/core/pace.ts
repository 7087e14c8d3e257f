import type { Clock } from "./clock";

/**
 * Pacing for long walks that must not starve production traffic: each batch of n units takes at
 * least n / rate seconds (the walk sleeps for the rest), so the rate never passes `ratePerSecond`,
 * not even in a burst after a slow stretch.
 */
export class Pacer {
  private batchStartMs: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly clock: Clock,
  ) {
    if (!(ratePerSecond > 0)) throw new RangeError(`the rate must be > 0 units a second, got ${ratePerSecond}`);
    this.batchStartMs = clock.now();
  }

  /** Records a batch of `units` just done; resolves when the next may start, or at once when `signal` aborts. */
  async batchDone(units: number, signal?: AbortSignal): Promise<void> {
    const earliestMs = this.batchStartMs + (units * 1000) / this.ratePerSecond;
    await sleep(earliestMs - this.clock.now(), signal);
    this.batchStartMs = this.clock.now();
  }
}

/** Waits `ms` (nothing when ≤ 0), or until `signal` aborts. Never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Runs `work` on every item, at most `concurrency` at once, in order of start; resolves when all settled. */
export async function forEachConcurrently<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
}
