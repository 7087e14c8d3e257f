import { randomUUID } from "node:crypto";
import type { DocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import type { WorkerDeps } from "../deps";
import { errorMessage, PermanentError } from "../errors";
import type { Logger } from "../logger";
import { applyTask, LeaseLostError } from "./applyTask";
import { decideClaim, type ClaimDecision } from "./claim";
import { unpublishForTask } from "./failSafeUnpublish";
import { claimTask, markDeadLetter, recordFailure, setAside, type Claim, type TaskWrite } from "./lease";
import type { Outcome } from "./plan";
import { parseMirrorTask, readTaskState, type MirrorTask } from "./task";

/**
 * One task, start to finish: check, claim (a lease), apply, complete. The mirror write and the
 * `done` mark commit atomically, conditioned on the task being unchanged since the claim (the
 * fence), so a worker whose lease ran out and was taken over commits nothing, and a task's effect
 * lands once. Every path ends in a write that moves the task on (done, failed with a retry time,
 * dead letter), or in a skip because another worker holds it: nothing is left to be found again
 * unchanged.
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

export type TaskResult = TaskRun & { taskId: string; durationMs: number };
export type TaskStatusAfterRun = TaskResult["status"];

/** Results that changed the task's state: a later poll will not find it again as it was. */
export const PROGRESSED: readonly TaskStatusAfterRun[] = ["done", "failed", "dead-letter", "invalid"];

export interface ProcessTaskOptions {
  /** The task doc as a query or trigger event already returned it; saves a read. */
  snapshot?: DocumentSnapshot;
  /** Prefix of lease owner ids, to tell in the task doc which process holds it. */
  workerId?: string;
  /** Claims in progress, so a worker shutting down can hand them back. */
  inFlight?: Map<string, Claim>;
  /** Applies given up past their deadline and still settling, so their owner can wait for them (shutdown, tests). */
  abandoned?: Set<Promise<unknown>>;
  random?: () => number;
}

type Run = TaskRun | "conflict";

export async function processMirrorTask(deps: WorkerDeps, taskId: string, options: ProcessTaskOptions = {}): Promise<TaskResult> {
  const started = deps.clock.now();
  const ref = deps.db.collection(COLLECTIONS.mirrorQueue).doc(taskId);
  const log = deps.logger.child({ taskId });
  // A given snapshot of a missing doc is not trusted: a created doc exists, so read it.
  let run = await runOnce(deps, options.snapshot?.exists ? options.snapshot : await ref.get(), options, log);
  // The snapshot was older than the doc (another worker moved the task, or the caller's copy was
  // stale): decide once more on the doc as it is now.
  if (run === "conflict") run = await runOnce(deps, await ref.get(), options, log);
  if (run === "conflict") run = { status: "skipped", reason: "claim-conflict" };
  return { taskId, durationMs: deps.clock.now() - started, ...run };
}

async function runOnce(deps: WorkerDeps, snap: DocumentSnapshot, options: ProcessTaskOptions, log: Logger): Promise<Run> {
  const { clock, config } = deps;
  const now = clock.now();
  if (!snap.exists) return { status: "skipped", reason: "missing" };
  const data = snap.data()!;
  const state = readTaskState(data);
  // The attempt that found the fault counts; a valid count before it is kept.
  if (!state.ok) return deadLetter(deps, snap, state.error, (Number.isSafeInteger(data.attempts) && data.attempts >= 0 ? data.attempts : 0) + 1, "invalid", log);
  const { attempts } = state.value;
  const decision = decideClaim(state.value, now, { maxAttempts: config.MIRROR_MAX_ATTEMPTS, leaseMs: config.MIRROR_LEASE_MS });
  if (decision.kind === "skip") return { status: "skipped", reason: decision.reason };
  if (decision.kind === "exhausted") return deadLetter(deps, snap, decision.error, attempts, "dead-letter", log);
  // Server time, so a worker's wrong clock refuses no valid task; the worker's clock only if a snapshot lacks both.
  const parsed = parseMirrorTask(data, (snap.createTime ?? snap.updateTime)?.toMillis() ?? now);
  if (!parsed.ok) return deadLetter(deps, snap, parsed.error, attempts + 1, "invalid", log);

  const claimed = await claimTask(snap, `${options.workerId ?? "worker"}:${randomUUID()}`, attempts + 1, now, config.MIRROR_LEASE_MS);
  if (claimed.kind === "conflict") return "conflict";
  if (claimed.kind === "refused") return setTaskAside(deps, snap, claimed.error, attempts + 1, log);
  options.inFlight?.set(snap.id, claimed.value);
  try {
    return await applyClaimed(deps, snap, claimed.value, parsed.value, options, log);
  } finally {
    options.inFlight?.delete(snap.id);
  }
}

/** Applies a claimed task, and records how the run ended: done, failed with a retry time, or a dead letter. */
async function applyClaimed(deps: WorkerDeps, snap: DocumentSnapshot, claim: Claim, task: MirrorTask, options: ProcessTaskOptions, log: Logger): Promise<Run> {
  const { clock, config } = deps;
  const started = clock.now();
  const lost = (error: unknown): Run => {
    log.warn("task.lease_lost", { op: task.op, attempt: claim.attempt, error });
    return { status: "lease-lost", attempt: claim.attempt };
  };
  try {
    const applied = await withinDeadline((signal) => applyTask(deps.db, claim, task, clock, signal), config.MIRROR_LEASE_MS / 2, options.abandoned);
    if (applied.dropped.length) log.warn("task.source_fields_dropped", { historyId: task.historyId, dropped: applied.dropped.map((d) => `${d.path} ${d.message}`) });
    log.info("task.completed", { op: task.op, historyId: task.historyId, outcome: applied.outcome, attempt: claim.attempt, durationMs: clock.now() - started });
    return { status: "done", outcome: applied.outcome, attempt: claim.attempt };
  } catch (error) {
    if (error instanceof LeaseLostError) return lost(error);
    const permanent = error instanceof PermanentError;
    const message = errorMessage(error);
    const recorded = await recordFailure(claim, message, permanent, clock.now(), config.MIRROR_MAX_ATTEMPTS, options.random);
    if (recorded.kind === "refused") return setTaskAside(deps, await snap.ref.get(), recorded.error, claim.attempt, log);
    if (recorded.kind === "conflict") return lost(error);
    const status = recorded.value;
    log[status === "dead-letter" ? "error" : "warn"]("task.failed", { op: task.op, historyId: task.historyId, attempt: claim.attempt, status, permanent, error });
    return { status, error: message, attempt: claim.attempt };
  }
}

/**
 * An apply that runs past half the lease is recorded as a transient failure while the claim still
 * holds, rather than left for another worker to take over. The usual cause: a document it needs is
 * locked by the transaction of a worker that was killed inside it, which Firestore expires after
 * about 60 s. The abandoned apply can still commit later; its commit is fenced by the claim.
 */
async function withinDeadline<T>(start: (signal: AbortSignal) => Promise<T>, ms: number, abandoned?: Set<Promise<unknown>>): Promise<T> {
  const controller = new AbortController();
  const work = start(controller.signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // The apply stops at its next step (no further transaction attempt); a commit already sent is fenced.
      controller.abort();
      const settling: Promise<void> = work.then(
        () => void abandoned?.delete(settling),
        () => void abandoned?.delete(settling),
      );
      abandoned?.add(settling);
      reject(new Error(`the task did not apply within ${Math.round(ms)} ms (half of MIRROR_LEASE_MS): a document it needs may be locked by a stopped worker's transaction, which Firestore releases within about 60 s`));
    }, ms);
  });
  work.catch(() => undefined); // settles after the deadline; the fence makes its outcome harmless
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function deadLetter(deps: WorkerDeps, snap: DocumentSnapshot, error: string, attempts: number, status: "invalid" | "dead-letter", log: Logger): Promise<Run> {
  await failSafeUnpublish(deps, snap, log);
  const written: TaskWrite = await markDeadLetter(snap, error, attempts, deps.clock.now());
  if (written.kind === "conflict") return "conflict";
  if (written.kind === "refused") return setTaskAside(deps, snap, written.error, attempts, log);
  log[status === "invalid" ? "warn" : "error"](status === "invalid" ? "task.invalid" : "task.dead_letter", { attempt: attempts, error });
  return { status, error, attempt: attempts };
}

async function setTaskAside(deps: WorkerDeps, snap: DocumentSnapshot, cause: unknown, attempts: number, log: Logger): Promise<Run> {
  await failSafeUnpublish(deps, snap, log);
  const { set, error } = await setAside(deps.db, snap, cause, attempts, deps.clock.now());
  if (!set) return "conflict";
  log.error("task.set_aside", { attempt: attempts, error: new PermanentError(error, undefined, { cause }) });
  return { status: "dead-letter", error, attempt: attempts };
}

/**
 * Before a task is set aside, its source still decides (failSafeUnpublish.ts). A failure here is
 * logged and the task set aside anyway: the audit re-checks dead letters' items.
 */
async function failSafeUnpublish(deps: WorkerDeps, snap: DocumentSnapshot, log: Logger): Promise<void> {
  try {
    const result = await unpublishForTask(deps.db, snap.data() ?? {});
    if (result === "unpublished") log.info("task.fail_safe_unpublished", { historyId: snap.get("historyId") });
  } catch (error) {
    log.error("task.fail_safe_unpublish_failed", { error });
  }
}
