/**
 * The fixed limits of the workers, beside the settings (config.ts), each with its reason. A limit
 * is here rather than a setting when changing it would break a rule the code relies on (the
 * 9-minute function timeout, a lease), or when no operator has a reason to change it.
 */

/**
 * A deployed run's time budget: no new step (GC batch, snapshot, walk page) starts after it. The
 * functions that run these (the schedules and `runWorker`) time out at 9 minutes; 2 are left for
 * the step in hand and the report.
 */
export const RUN_TIME_BUDGET_MS = 7 * 60_000;

/** The mirror sweep: tasks one run of the 5-minute schedule processes at most, one after another. */
export const SCHEDULED_SWEEP_LIMIT = 500;
/** Tasks a manual sweep processes unless told (`runWorker` `limit`, `workers mirror drain --limit`), and the most it takes. */
export const MANUAL_SWEEP_LIMIT = { default: 100, max: 1000 } as const;

/**
 * A failed task's retry: 10 s, 20 s, 40 s, ... doubling per attempt, capped at 15 minutes, ±20 %
 * jitter so that tasks failed together (an outage) do not retry together. With the default 5
 * attempts a task is retried over about 2.5 minutes: long enough for a brief outage, short enough
 * that a poison task is set aside the same hour.
 */
export const RETRY_BACKOFF = { baseMs: 10_000, capMs: 15 * 60_000, jitter: 0.2 } as const;

/**
 * A standalone poller whose full batch was all taken by other workers polls again at once (from a
 * new cursor point) at most this many times in a row; then it sleeps the poll interval. Losing a
 * whole batch means the queue is busy, so sleeping would idle the worker while work waits; the
 * bound keeps tasks another writer keeps changing from making it spin.
 */
export const RACED_POLLS_IN_A_ROW = 3;

/** A done task is kept this long (for audits and `status`), then the queue's cleanup may delete it. */
export const DONE_TASK_RETENTION_MS = 7 * 24 * 3600_000;

/** A project whose snapshot failed is retried after 1 h, 2 h, 4 h, ... doubling, at most 7 days: a project that keeps failing costs a few reads a week. */
export const SNAPSHOT_RETRY_BACKOFF = { baseMs: 3600_000, capMs: 7 * 24 * 3600_000 } as const;

/**
 * Sizes of the samples `status` and the reports list (dead letters, media needing a person, drift,
 * tasks not done): enough to see a pattern, few enough to read in a terminal and to cost little.
 */
export const STATUS_SAMPLE_SIZE = 20;
/** Expired leases `status` reads at most (each one read). */
export const STATUS_LEASE_EXPIRED_READS = 100;
/** Tasks with at least this many attempts are "struggling" in `status`. */
export const STATUS_MANY_ATTEMPTS = 3;
/** Media GC candidates `status` judges at most (one read each): the oldest, as a run would take them. */
export const STATUS_GC_CANDIDATE_READS = 1000;
/** Counts for status lines and progress stop here (a count costs 1 read per 1,000 entries). */
export const COUNT_CAP = 1_000_000;
/** The worker heartbeat's queue depth stops here: at most 100 reads a beat. */
export const HEARTBEAT_QUEUE_DEPTH_CAP = 100_000;
