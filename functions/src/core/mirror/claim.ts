import type { TaskState } from "./task";

/**
 * Whether a worker may take a task now. A claim is a lease: `processing` with an expiry.
 * A worker that dies leaves the lease to run out; the next claim takes the task over and
 * counts the lost run as an attempt, so a task that kills its workers ends as a dead letter
 * instead of looping forever.
 */
export type ClaimDecision =
  | { kind: "claim" }
  | { kind: "skip"; reason: "done" | "dead-letter" | "leased" | "not-due" }
  | { kind: "exhausted"; error: string };

export function decideClaim(state: TaskState, nowMs: number, maxAttempts: number): ClaimDecision {
  const attempts = state.attempts ?? 0;
  switch (state.status) {
    case "done":
      return { kind: "skip", reason: "done" };
    case "failed":
      if (state.deadLetter || attempts >= maxAttempts) return { kind: "skip", reason: "dead-letter" };
      if (state.nextAttemptAt && state.nextAttemptAt.toMillis() > nowMs) return { kind: "skip", reason: "not-due" };
      return { kind: "claim" };
    case "processing":
      if (state.leaseExpiresAt && state.leaseExpiresAt.toMillis() > nowMs) return { kind: "skip", reason: "leased" };
      if (attempts >= maxAttempts) {
        return { kind: "exhausted", error: `lease expired on attempt ${attempts} of ${maxAttempts}: the worker stopped without finishing` };
      }
      return { kind: "claim" };
    default:
      return { kind: "claim" };
  }
}
