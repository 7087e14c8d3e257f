import { createHash } from "node:crypto";
import { FieldValue, type Firestore } from "firebase-admin/firestore";
import { COLLECTIONS, historyItemPath } from "../collections";
import { errorMessage, firestoreCode, GrpcStatus } from "../errors";
import { forEachConcurrently, sleep } from "../pace";
import { STATUS_SAMPLE_SIZE } from "../limits";
import type { SkipReason, TaskRun } from "./processMirrorTask";

/**
 * The fixes of the backfill and of verify's repair: ordinary upsert tasks, in the app's own
 * enqueue shape (`op`, `uid`, `historyId`, `status: "pending"`, `createdAt` a server timestamp),
 * so every guarantee of the queue applies to them: the source decides in the apply transaction,
 * a task is applied once, ordering against the app's tasks, retries and dead letters.
 *
 * A task's id is derived from the run and the item, and the task is created, never overwritten:
 * a run that meets an item again (resumed after a stop, two processes of one run, an item whose
 * `updatedAt` moved it ahead of the cursor) finds the task there and enqueues nothing twice.
 */
export interface RepairTarget {
  uid: string;
  historyId: string;
}

/**
 * What applying a task came to: processMirrorTask's run (a skipped one says why: "done", another
 * process applied it; "leased", another process holds it; ...), or `error` when it threw (nothing
 * recorded on the task).
 */
export type AppliedTask = TaskRun | { status: "error"; error: string };

/** Applies a task at once in this process, as the trigger would (the CLI passes processMirrorTask). */
export type ApplyTask = (taskId: string) => Promise<AppliedTask>;

export interface RepairTally {
  enqueued: number;
  /** Tasks this run had already enqueued for the item. */
  alreadyEnqueued: number;
  /** Only when the run applies its tasks itself. */
  applied?: { byStatus: Record<string, number>; byOutcome: Record<string, number> };
  /** Tasks applied here that did not end `done` (a skipped one included, unless another process did it): their number, and the first STATUS_SAMPLE_SIZE. */
  notDoneCount: number;
  notDone: { taskId: string; uid: string; historyId: string; status: string; error?: string }[];
}

const CONCURRENCY = 16;

export const emptyTally = (applies: boolean): RepairTally => ({
  enqueued: 0,
  alreadyEnqueued: 0,
  notDoneCount: 0,
  notDone: [],
  ...(applies ? { applied: { byStatus: {}, byOutcome: {} } } : {}),
});

/** 32 hex digits of SHA-256 over the run and the item's path: spread over the id space, never a reserved id. */
export function repairTaskId(runId: string, target: RepairTarget): string {
  return createHash("sha256")
    .update(`${runId}\n${historyItemPath(target.uid, target.historyId)}`)
    .digest("hex")
    .slice(0, 32);
}

const bump = (counts: Record<string, number>, key: string) => (counts[key] = (counts[key] ?? 0) + 1);

/**
 * Enqueues an upsert for each target (and applies it with `apply`, when given). A Firestore error
 * other than "already exists" rejects, after the other enqueues in flight settled: the caller's
 * cursor has not moved past these items, so a rerun enqueues them then.
 */
export async function enqueueRepairs(
  db: Firestore,
  runId: string,
  targets: RepairTarget[],
  tally: RepairTally,
  apply?: ApplyTask,
): Promise<void> {
  let failure: unknown;
  await forEachConcurrently(targets, CONCURRENCY, async (target) => {
    if (failure !== undefined) return;
    const taskId = repairTaskId(runId, target);
    try {
      await db
        .collection(COLLECTIONS.mirrorQueue)
        .doc(taskId)
        .create({ op: "upsert", uid: target.uid, historyId: target.historyId, status: "pending", createdAt: FieldValue.serverTimestamp() });
      tally.enqueued++;
    } catch (error) {
      if (firestoreCode(error) !== GrpcStatus.ALREADY_EXISTS) {
        failure ??= error;
        return;
      }
      tally.alreadyEnqueued++;
    }
    // A task met again is applied again too: done, it is skipped at the cost of a read; left pending by a stopped run, it is applied now.
    if (apply) await applyOne(apply, taskId, target, tally);
  });
  if (failure !== undefined) throw failure;
}

/** Skip reasons that another live process (the trigger, a worker) usually ends within moments. */
const HELD: readonly SkipReason[] = ["leased", "claim-conflict"];
/** How often, a second apart, a task another process holds is tried again before it is left to the queue. */
export const HELD_RETRIES = 10;

async function applyOnce(apply: ApplyTask, taskId: string): Promise<AppliedTask> {
  try {
    return await apply(taskId);
  } catch (error) {
    // Nothing was recorded on the task: it stays due, for the trigger, a worker or the next run.
    return { status: "error", error: errorMessage(error) };
  }
}

async function applyOne(apply: ApplyTask, taskId: string, target: RepairTarget, tally: RepairTally): Promise<void> {
  let result = await applyOnce(apply, taskId);
  // Held by another process: it usually finishes it at once (then this apply finds it done); one that died holds it until its lease runs out.
  for (let retry = 0; retry < HELD_RETRIES && result.status === "skipped" && HELD.includes(result.reason); retry++) {
    await sleep(1000);
    result = await applyOnce(apply, taskId);
  }
  bump(tally.applied!.byStatus, result.status);
  if (result.status === "done") bump(tally.applied!.byOutcome, result.outcome);
  // Skipped because another process finished it: done. Skipped otherwise (another process holds
  // it, it is not due, dead-lettered, gone): not applied here, and nothing here will; not done.
  if (result.status === "done" || (result.status === "skipped" && result.reason === "done")) return;
  tally.notDoneCount++;
  if (tally.notDone.length < STATUS_SAMPLE_SIZE) {
    const status = result.status === "skipped" ? `skipped (${result.reason})` : result.status;
    tally.notDone.push({ taskId, ...target, status, ...("error" in result && result.error ? { error: result.error } : {}) });
  }
}
