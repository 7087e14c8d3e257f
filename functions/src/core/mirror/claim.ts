import type { WorkerConfig } from "../config";
import { MAX_RETRY_DELAY_MS } from "./backoff";
import type { TaskState } from "./task";

/**
 * Whether a worker may take a task now. A claim is a lease: `processing` with an expiry.
 * A worker that dies leaves the lease to run out; the next claim takes the task over and counts the
 * lost run as an attempt, so a task that kills its workers ends as a dead letter instead of looping.
 * A task whose attempts already reach the limit (the limit was lowered, or the app wrote them) is
 * made a dead letter at once, with a write, so it leaves the queries instead of being found again.
 *
 * Worker fields no correct worker writes are normalized, never obeyed and never skipped without a
 * write (a skip leaves the task where the same query finds it again):
 * - a lease ending more than `leaseMs` + WORKER_CLOCK_SKEW_MS ahead counts as expired (taken over),
 * - a retry time more than the longest backoff + WORKER_CLOCK_SKEW_MS ahead counts as due,
 * - a dead letter that still carries a retry time is marked a dead letter again, which deletes it.
 * So no field holds a task longer than a worker could: a lease or a retry time from a worker whose
 * clock runs fast, or written by hand, is bounded by the workers' own maximum.
 */
export type ClaimDecision =
  { kind: "claim" } | { kind: "skip"; reason: "done" | "dead-letter" | "leased" | "not-due" } | { kind: "exhausted"; error: string };

/** How far a correct worker's clock may run ahead of another's. */
export const WORKER_CLOCK_SKEW_MS = 60_000;

export interface ClaimLimits {
  maxAttempts: number;
  /** MIRROR_LEASE_MS: the longest lease a worker writes. */
  leaseMs: number;
}

/** The claim limits the settings give (MIRROR_MAX_ATTEMPTS, MIRROR_LEASE_MS). */
export const claimLimits = (config: WorkerConfig): ClaimLimits => ({
  maxAttempts: config.MIRROR_MAX_ATTEMPTS,
  leaseMs: config.MIRROR_LEASE_MS,
});

/** The latest lease end and retry time a correct worker could have written, as of `nowMs`. */
export function plausibleUntil(nowMs: number, leaseMs: number): { lease: number; retry: number } {
  return { lease: nowMs + leaseMs + WORKER_CLOCK_SKEW_MS, retry: nowMs + MAX_RETRY_DELAY_MS + WORKER_CLOCK_SKEW_MS };
}

export function decideClaim(state: TaskState, nowMs: number, limits: ClaimLimits): ClaimDecision {
  const { attempts } = state;
  const { maxAttempts } = limits;
  const limit = `MIRROR_MAX_ATTEMPTS is ${maxAttempts}`;
  const until = plausibleUntil(nowMs, limits.leaseMs);
  const waits = (at: number | undefined, bound: number) => at !== undefined && at > nowMs && at <= bound;
  switch (state.status) {
    case "done":
      return { kind: "skip", reason: "done" };
    case "failed":
      if (state.deadLetter)
        return state.nextAttemptAt
          ? { kind: "exhausted", error: state.lastError ?? "marked a dead letter by hand" }
          : { kind: "skip", reason: "dead-letter" };
      if (attempts >= maxAttempts)
        return {
          kind: "exhausted",
          error: `gave up after ${attempts} attempts (${limit}); last error: ${state.lastError ?? "none recorded"}`,
        };
      if (waits(state.nextAttemptAt?.toMillis(), until.retry)) return { kind: "skip", reason: "not-due" };
      return { kind: "claim" };
    case "processing":
      if (waits(state.leaseExpiresAt?.toMillis(), until.lease)) return { kind: "skip", reason: "leased" };
      if (attempts >= maxAttempts)
        return { kind: "exhausted", error: `lease expired on attempt ${attempts} (${limit}): the worker stopped without finishing` };
      return { kind: "claim" };
    default:
      if (attempts >= maxAttempts) return { kind: "exhausted", error: `attempts is already ${attempts} (${limit}) before any run` };
      return { kind: "claim" };
  }
}

/**
 * How long after it was written a task may still be claimed in the commit that applies it.
 * A commit claim writes nothing before the run, so a run that dies with its worker (killed, out of
 * memory) leaves no trace and counts no attempt: the task is simply found again. A task still
 * unfinished this long after it was written is claimed with a lease instead, which counts every
 * run, so a task that kills the workers that take it ends as a dead letter within
 * MIRROR_MAX_ATTEMPTS leases rather than looping. A queue that backs up past this age costs one
 * write more per task (the lease) until it has caught up.
 */
export const COMMIT_CLAIM_MAX_AGE_MS = 10 * 60_000;

/**
 * Whether the claim of a task `decideClaim` allows can ride in the commit that applies it: only a
 * task that never ran (no status or `pending`, no attempts) and was written (`createdMs`, the
 * server's create time) less than COMMIT_CLAIM_MAX_AGE_MS before `nowMs`.
 */
export function claimsInCommit(state: TaskState, createdMs: number | undefined, nowMs: number): boolean {
  if (state.status !== undefined && state.status !== "pending") return false;
  if (state.attempts !== 0 || createdMs === undefined) return false;
  return nowMs - createdMs < COMMIT_CLAIM_MAX_AGE_MS;
}
