import type { Clock } from "./clock";

/**
 * Pacing for long walks that must not starve production traffic: a batch of at most n units
 * starts only once n / rate seconds have passed since the previous batch started (the first batch
 * too, after the pacer's creation), so the units started by any time t since then never pass
 * rate × t, not even on a run of one batch, nor in a burst after a slow stretch (time not used is
 * not saved up). A batch that used fewer units than it reserved gives the rest back.
 */
export class Pacer {
  /** When the last reserved batch may start. */
  private nextStartMs: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly clock: Clock,
  ) {
    if (!(ratePerSecond > 0)) throw new RangeError(`the rate must be > 0 units a second, got ${ratePerSecond}`);
    this.nextStartMs = clock.now();
  }

  /** Reserves a batch of at most `units`; resolves when it may start, or at once when `signal` aborts. */
  async reserve(units: number, signal?: AbortSignal): Promise<void> {
    this.nextStartMs = Math.max(this.nextStartMs, this.clock.now()) + (units * 1000) / this.ratePerSecond;
    await sleep(this.nextStartMs - this.clock.now(), signal);
  }

  /** Gives back the units of the last reserved batch it did not use. */
  unused(units: number): void {
    if (units > 0) this.nextStartMs -= (units * 1000) / this.ratePerSecond;
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
