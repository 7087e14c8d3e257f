import type { TaskState } from "./task";

/**
 * Whether a worker may take a task now. A claim is a lease: `processing` with an expiry.
 * A worker that dies leaves the lease to run out; the next claim takes the task over and counts the
 * lost run as an attempt, so a task that kills its workers ends as a dead letter instead of looping.
 * A task whose attempts already reach the limit (the limit was lowered, or the app wrote them) is
 * made a dead letter at once, with a write, so it leaves the queries instead of being found again.
 */
export type ClaimDecision =
  | { kind: "claim" }
  | { kind: "skip"; reason: "done" | "dead-letter" | "leased" | "not-due" }
  | { kind: "exhausted"; error: string };

export function decideClaim(state: TaskState, nowMs: number, maxAttempts: number): ClaimDecision {
  const { attempts } = state;
  const limit = `MIRROR_MAX_ATTEMPTS is ${maxAttempts}`;
  switch (state.status) {
    case "done":
      return { kind: "skip", reason: "done" };
    case "failed":
      if (state.deadLetter) return { kind: "skip", reason: "dead-letter" };
      if (attempts >= maxAttempts) return { kind: "exhausted", error: `gave up after ${attempts} attempts (${limit}); last error: ${state.lastError ?? "none recorded"}` };
      if (state.nextAttemptAt && state.nextAttemptAt.toMillis() > nowMs) return { kind: "skip", reason: "not-due" };
      return { kind: "claim" };
    case "processing":
      if (state.leaseExpiresAt && state.leaseExpiresAt.toMillis() > nowMs) return { kind: "skip", reason: "leased" };
      if (attempts >= maxAttempts) return { kind: "exhausted", error: `lease expired on attempt ${attempts} (${limit}): the worker stopped without finishing` };
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
