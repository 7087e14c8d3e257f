import type { DocumentSnapshot } from "firebase-admin/firestore";
import type { WorkerDeps } from "../deps";
import { errorMessage, PermanentError } from "../errors";
import type { Logger } from "../logger";
import { LeaseLostError, type Applied } from "./applyTask";
import { unpublishForTask } from "./failSafeUnpublish";
import { markDeadLetter, recordFailure, setAside, type Claim, type TaskWrite } from "./lease";
import type { TaskResult, TaskRun } from "./processMirrorTask";
import type { MirrorTask } from "./task";

/**
 * The ends of one task's run, shared by both kinds of claim: done, failed with a retry time, a
 * dead letter, set aside; or "conflict" when the task changed since it was read, so that the
 * caller decides again on the task as it is now.
 */
export type Run = (TaskRun & { lostRace?: boolean }) | "conflict";

/** A task nothing could be written for (Firestore unavailable): left as it is, due again. */
export function unclaimedRun(deps: WorkerDeps, taskId: string, error: unknown): Extract<TaskRun, { status: "skipped" }> {
  deps.logger.error("task.claim_error", { taskId, error });
  return { status: "skipped", reason: "error", error: errorMessage(error) };
}

export function unclaimed(taskId: string, error: unknown, deps: WorkerDeps): TaskResult {
  return { taskId, durationMs: 0, ...unclaimedRun(deps, taskId, error) };
}

/** A source item may have thousands of values of the wrong type: one log line names this many, and counts them all. */
export const MAX_LOGGED_DROPS = 20;

export function completed(claim: Claim, task: MirrorTask, applied: Applied, durationMs: number, log: Logger): Run {
  if (applied.dropped.length)
    log.warn("task.source_fields_dropped", {
      historyId: task.historyId,
      dropped: applied.dropped.slice(0, MAX_LOGGED_DROPS).map((d) => `${d.path} ${d.message}`),
      droppedCount: applied.dropped.length,
    });
  log.info("task.completed", {
    op: task.op,
    historyId: task.historyId,
    outcome: applied.outcome,
    attempt: claim.attempt,
    claim: claim.kind,
    durationMs,
  });
  return { status: "done", outcome: applied.outcome, attempt: claim.attempt };
}

/** Records how a claimed run failed: retried after a backoff, or a dead letter; nothing when the claim was lost. */
export async function failedRun(
  deps: WorkerDeps,
  snap: DocumentSnapshot,
  claim: Claim,
  task: MirrorTask,
  error: unknown,
  log: Logger,
  random?: () => number,
): Promise<Run> {
  const { clock, config } = deps;
  const lost = (): Run => {
    log.warn("task.lease_lost", { op: task.op, attempt: claim.attempt, error });
    return { status: "lease-lost", attempt: claim.attempt, lostRace: true };
  };
  if (error instanceof LeaseLostError) return lost();
  const permanent = error instanceof PermanentError;
  const message = errorMessage(error);
  const recorded = await recordFailure(claim, message, permanent, clock.now(), config.MIRROR_MAX_ATTEMPTS, random);
  if (recorded.kind === "refused") return setTaskAside(deps, await snap.ref.get(), recorded.error, claim.attempt, log);
  if (recorded.kind === "conflict") return lost();
  const status = recorded.value;
  log[status === "dead-letter" ? "error" : "warn"]("task.failed", {
    op: task.op,
    historyId: task.historyId,
    attempt: claim.attempt,
    status,
    permanent,
    error,
  });
  return { status, error: message, attempt: claim.attempt };
}

/**
 * An apply that runs past half the lease is recorded as a transient failure while the claim still
 * holds, rather than left for another worker to take over. The usual cause: a document it needs is
 * locked by the transaction of a worker that was killed inside it, which Firestore expires after
 * about 60 s. The abandoned apply can still commit later; its commit is fenced by the claim.
 */
export async function withinDeadline<T>(
  start: (signal: AbortSignal) => Promise<T>,
  ms: number,
  abandoned?: Set<Promise<unknown>>,
): Promise<T> {
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
      reject(
        new Error(
          `the task did not apply within ${Math.round(ms)} ms (half of MIRROR_LEASE_MS): a document it needs may be locked by a stopped worker's transaction, which Firestore releases within about 60 s`,
        ),
      );
    }, ms);
  });
  work.catch(() => undefined); // settles after the deadline; the fence makes its outcome harmless
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

export async function deadLetter(
  deps: WorkerDeps,
  snap: DocumentSnapshot,
  error: string,
  attempts: number,
  status: "invalid" | "dead-letter",
  log: Logger,
): Promise<Run> {
  await failSafeUnpublish(deps, snap, log);
  const written: TaskWrite = await markDeadLetter(snap, error, attempts, deps.clock.now());
  if (written.kind === "conflict") return "conflict";
  if (written.kind === "refused") return setTaskAside(deps, snap, written.error, attempts, log);
  log[status === "invalid" ? "warn" : "error"](status === "invalid" ? "task.invalid" : "task.dead_letter", { attempt: attempts, error });
  return { status, error, attempt: attempts };
}

export async function setTaskAside(deps: WorkerDeps, snap: DocumentSnapshot, cause: unknown, attempts: number, log: Logger): Promise<Run> {
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
