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
