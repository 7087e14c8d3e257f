const MAX_BASE_DELAY_MS = 15 * 60_000;
/** The longest retry delay a worker writes: the cap plus its jitter. */
export const MAX_RETRY_DELAY_MS = MAX_BASE_DELAY_MS * 1.2;

/** Delay before retry number `attempts + 1`: 10 s, 20 s, 40 s, ... capped at 15 min, with ±20 % jitter. */
export function retryDelayMs(attempts: number, random: () => number = Math.random): number {
  const base = Math.min(10_000 * 2 ** Math.max(0, attempts - 1), MAX_BASE_DELAY_MS);
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** The poller's next sleep: the interval while work flows, doubling up to `maxMs` while the queue is empty. */
export function nextPollDelayMs(previousMs: number, foundWork: boolean, intervalMs: number, maxMs: number): number {
  if (foundWork) return intervalMs;
  return Math.min(Math.max(previousMs, intervalMs) * 2, Math.max(maxMs, intervalMs));
}
