import type { DocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import type { WorkerDeps } from "../deps";
import type { ClaimDecision } from "./claim";
import type { Claim } from "./lease";
import type { Outcome } from "./plan";
import type { ProfileCache } from "./profiles";
import { processTaskBatch } from "./taskBatch";

/**
 * One task, start to finish (the trigger; tests): a batch of one (taskBatch.ts). Every path ends in
 * a write that moves the task on (done, failed with a retry time, dead letter), or in a skip because
 * another worker holds it or completed it: nothing is left to be found again unchanged.
 */
/** Why a run left a task as it was: its state (claim.ts), the doc gone, a lost race, or Firestore unreachable. */
export type SkipReason = (ClaimDecision & { kind: "skip" })["reason"] | "missing" | "claim-conflict" | "error";

/** How one run of a task ended, keyed by `status`. */
export type TaskRun =
  /** Applied: what it did to the mirror. */
  | { status: "done"; outcome: Outcome; attempt: number }
  /** Failed, retried later (`failed`), or set aside for good: out of attempts (`dead-letter`), or never valid (`invalid`). */
  | { status: "failed" | "dead-letter" | "invalid"; error: string; attempt: number }
  /** Not run; nothing written. `error` when Firestore could not be reached (`reason: "error"`). */
  | { status: "skipped"; reason: SkipReason; error?: string }
  /** Another worker took the task over mid-run; this run committed nothing. */
  | { status: "lease-lost"; attempt: number };

export type TaskResult = TaskRun & {
  taskId: string;
  durationMs: number;
  /** Another worker (or the app) changed the task between this worker's read and its write. */
  lostRace?: boolean;
};
export type TaskStatusAfterRun = TaskResult["status"];

/** Results that changed the task's state: a later poll will not find it again as it was. */
export const PROGRESSED: readonly TaskStatusAfterRun[] = ["done", "failed", "dead-letter", "invalid"];

export interface ProcessTaskOptions {
  /** The task doc as a query or trigger event already returned it; saves a read. */
  snapshot?: DocumentSnapshot;
  /** Prefix of claim owner ids, to tell in the task doc which process holds it. */
  workerId?: string;
  /** Claims in progress, so a worker shutting down can hand them back. */
  inFlight?: Map<string, Claim>;
  /** Applies given up past their deadline and still settling, so their owner can wait for them (shutdown, tests). */
  abandoned?: Set<Promise<unknown>>;
  random?: () => number;
  /** Owners' profiles shared with earlier batches (a standalone worker's); else shared within the batch only. */
  profiles?: ProfileCache;
}

export async function processMirrorTask(deps: WorkerDeps, taskId: string, options: ProcessTaskOptions = {}): Promise<TaskResult> {
  // A given snapshot of a missing doc is not trusted: a created doc exists, so read it.
  const snap = options.snapshot?.exists ? options.snapshot : await deps.db.collection(COLLECTIONS.mirrorQueue).doc(taskId).get();
  const [result] = await processTaskBatch(deps, [snap], options);
  return result;
}
