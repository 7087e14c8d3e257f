import { RACED_POLLS_IN_A_ROW, RETRY_BACKOFF } from "../limits";

/** The longest retry delay a worker writes: the cap plus its jitter. */
export const MAX_RETRY_DELAY_MS = RETRY_BACKOFF.capMs * (1 + RETRY_BACKOFF.jitter);

/** Delay before retry number `attempts + 1`: 10 s, 20 s, 40 s, ... capped at 15 min, with ±20 % jitter (RETRY_BACKOFF). */
export function retryDelayMs(attempts: number, random: () => number = Math.random): number {
  const { baseMs, capMs, jitter } = RETRY_BACKOFF;
  const delayMs = Math.min(baseMs * 2 ** Math.max(0, attempts - 1), capMs);
  return Math.round(delayMs * (1 - jitter + 2 * jitter * random()));
}

/**
 * The poller's next sleep after `previousMs` (the sleep before this poll; 0 after a full batch):
 * the interval while work flows, doubling up to `maxMs` while the queue is empty. The first empty
 * poll after a burst of full ones waits one interval, not two: tasks enqueued just after a burst
 * become visible as soon as while work flows.
 */
export function nextPollDelayMs(previousMs: number, foundWork: boolean, intervalMs: number, maxMs: number): number {
  if (foundWork) return intervalMs;
  return Math.min(Math.max(previousMs * 2, intervalMs), Math.max(maxMs, intervalMs));
}

/** What a poll found and did, as the poller's sleep rule reads it. */
export interface PollOutcome {
  found: number;
  /** Tasks whose state the poll changed. */
  progressed: number;
  /** Tasks another worker changed first (it completed or claimed them). */
  lostRaces: number;
}

/** The poller's sleep state: the last sleep (ms) and the polls in a row that lost a whole full batch. */
export interface PollPace {
  delayMs: number;
  racedPolls: number;
}

/**
 * The poller's sleep after `poll`: none after a full batch (`batchLimit` tasks) that moved tasks
 * on (more is waiting), or that other workers took whole (the queue is busy and the worker's cursor
 * has moved to a new point, where other tasks wait), RACED_POLLS_IN_A_ROW times in a row at most,
 * so tasks another writer keeps changing cannot make it spin; otherwise nextPollDelayMs.
 */
export function paceAfterPoll(
  pace: PollPace,
  poll: PollOutcome,
  limits: { batchLimit: number; intervalMs: number; maxMs: number },
): PollPace {
  const full = poll.found >= limits.batchLimit;
  const raced = full && poll.progressed === 0 && poll.lostRaces > 0 && pace.racedPolls < RACED_POLLS_IN_A_ROW;
  if ((full && poll.progressed > 0) || raced) return { delayMs: 0, racedPolls: raced ? pace.racedPolls + 1 : 0 };
  return { delayMs: nextPollDelayMs(pace.delayMs, poll.progressed > 0, limits.intervalMs, limits.maxMs), racedPolls: 0 };
}
