import { RETRY_BACKOFF } from "../limits";

/** The longest retry delay a worker writes: the cap plus its jitter. */
export const MAX_RETRY_DELAY_MS = RETRY_BACKOFF.capMs * (1 + RETRY_BACKOFF.jitter);

/** Delay before retry number `attempts + 1`: 10 s, 20 s, 40 s, ... capped at 15 min, with ±20 % jitter (RETRY_BACKOFF). */
export function retryDelayMs(attempts: number, random: () => number = Math.random): number {
  const { baseMs, capMs, jitter } = RETRY_BACKOFF;
  const delayMs = Math.min(baseMs * 2 ** Math.max(0, attempts - 1), capMs);
  return Math.round(delayMs * (1 - jitter + 2 * jitter * random()));
}

/** The poller's next sleep: the interval while work flows, doubling up to `maxMs` while the queue is empty. */
export function nextPollDelayMs(previousMs: number, foundWork: boolean, intervalMs: number, maxMs: number): number {
  if (foundWork) return intervalMs;
  return Math.min(Math.max(previousMs, intervalMs) * 2, Math.max(maxMs, intervalMs));
}
