import { randomUUID } from "node:crypto";
import { FieldValue, Timestamp, type DocumentSnapshot, type Firestore, type Transaction } from "firebase-admin/firestore";
import { COLLECTIONS, historyItemPath } from "../collections";
import type { WorkerDeps } from "../deps";
import { errorMessage } from "../logger";
import { decideClaim } from "./claim";
import { claimTask, doneFields, markDeadLetter, recordFailure, type Claim } from "./lease";
import { MIRROR_MARK, needsUserProfile, planMirrorWrite, type Doc, type MirrorPlan, type Outcome } from "./plan";
import { parseMirrorTask, readTaskState, type MirrorTask } from "./task";

/**
 * One task, start to finish: claim (a lease), apply, complete. The apply step and the `done`
 * mark commit in one transaction that first checks the lease is still ours (the fence), so a
 * worker whose lease ran out and was taken over commits nothing, and a task's effect lands once.
 */
export type TaskStatusAfterRun = "done" | "failed" | "dead-letter" | "invalid" | "skipped" | "lease-lost";

export interface TaskResult {
  taskId: string;
  status: TaskStatusAfterRun;
  /** What the task did to the mirror (done), or why it was not run (skipped). */
  outcome?: Outcome;
  reason?: string;
  error?: string;
  attempt?: number;
  durationMs: number;
}

export interface ProcessTaskOptions {
  /** The task doc as a query already returned it; saves a read. */
  snapshot?: DocumentSnapshot;
  /** Prefix of lease owner ids, to tell in the task doc which process holds it. */
  workerId?: string;
  /** Claims in progress, so a worker shutting down can hand them back. */
  inFlight?: Map<string, Claim>;
  random?: () => number;
}

export const TOMBSTONE_RETENTION_MS = 30 * 24 * 3600_000;

class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

export async function processMirrorTask(deps: WorkerDeps, taskId: string, options: ProcessTaskOptions = {}): Promise<TaskResult> {
  const { db, clock, config } = deps;
  const log = deps.logger.child({ taskId });
  const started = clock.now();
  const result = (r: Omit<TaskResult, "taskId" | "durationMs">): TaskResult => ({ taskId, durationMs: clock.now() - started, ...r });

  const snap = options.snapshot ?? (await db.collection(COLLECTIONS.mirrorQueue).doc(taskId).get());
  if (!snap.exists) return result({ status: "skipped", reason: "missing" });
  const state = readTaskState(snap.data()!);
  const attempts = state.attempts ?? 0;
  const decision = decideClaim(state, started, config.MIRROR_MAX_ATTEMPTS);
  if (decision.kind === "skip") return result({ status: "skipped", reason: decision.reason });
  if (decision.kind === "exhausted") {
    const marked = await markDeadLetter(snap, decision.error, attempts, started);
    if (marked) log.error("task.dead_letter", { attempt: attempts, error: decision.error });
    return marked ? result({ status: "dead-letter", error: decision.error, attempt: attempts }) : result({ status: "skipped", reason: "claim-conflict" });
  }

  const parsed = parseMirrorTask(snap.data());
  if (!parsed.ok) {
    const marked = await markDeadLetter(snap, parsed.error, attempts + 1, started);
    if (marked) log.warn("task.invalid", { error: parsed.error });
    return marked ? result({ status: "invalid", error: parsed.error, attempt: attempts + 1 }) : result({ status: "skipped", reason: "claim-conflict" });
  }

  const owner = `${options.workerId ?? "worker"}:${randomUUID()}`;
  const claim = await claimTask(snap, owner, attempts + 1, started, config.MIRROR_LEASE_MS);
  if (!claim) return result({ status: "skipped", reason: "claim-conflict" });
  options.inFlight?.set(taskId, claim);
  const task = parsed.task;
  try {
    const outcome = await applyTask(db, claim, task, clock.now());
    log.info("task.completed", { op: task.op, historyId: task.historyId, outcome, attempt: claim.attempt, durationMs: clock.now() - started });
    return result({ status: "done", outcome, attempt: claim.attempt });
  } catch (error) {
    if (error instanceof LeaseLostError) {
      log.warn("task.lease_lost", { op: task.op, attempt: claim.attempt });
      return result({ status: "lease-lost", attempt: claim.attempt });
    }
    const message = errorMessage(error);
    const status = await recordFailure(db, claim, message, clock.now(), config.MIRROR_MAX_ATTEMPTS, options.random);
    const level = status === "dead-letter" ? "error" : "warn";
    log[level]("task.failed", { op: task.op, historyId: task.historyId, attempt: claim.attempt, error: message, status });
    return result({ status, error: message, attempt: claim.attempt });
  } finally {
    options.inFlight?.delete(taskId);
  }
}

const dataOf = (snap: DocumentSnapshot | undefined): Doc | undefined => (snap?.exists ? snap.data() : undefined);

async function applyTask(db: Firestore, claim: Claim, task: MirrorTask, nowMs: number): Promise<Outcome> {
  const mirrorRef = db.collection(COLLECTIONS.publicGenerations).doc(task.historyId);
  const tombstoneRef = db.collection(COLLECTIONS.mirrorTombstones).doc(task.historyId);
  return db.runTransaction(async (tx) => {
    const current = await tx.get(claim.ref);
    if (current.get("leaseOwner") !== claim.leaseOwner || current.get("status") !== "processing") throw new LeaseLostError();

    const sourceRef = db.doc(historyItemPath(task.uid, task.historyId));
    const [mirrorSnap, sourceSnap] = task.op === "upsert" ? await tx.getAll(mirrorRef, sourceRef) : [await tx.get(mirrorRef)];
    const mirror = dataOf(mirrorSnap);
    const source = dataOf(sourceSnap);
    // Only a removed (absent) mirror doc needs its tombstone to tell whether this task is stale.
    const tombstone = !mirror && task.op !== "update" ? dataOf(await tx.get(tombstoneRef)) : undefined;
    const user = needsUserProfile(task, source) ? dataOf(await tx.get(db.collection(COLLECTIONS.users).doc(task.uid))) : undefined;

    const plan = planMirrorWrite({ taskId: claim.taskId, task, mirror, tombstone, source, user });
    writePlan(tx, plan, { mirrorRef, tombstoneRef, mirrorExists: mirror !== undefined, task, taskId: claim.taskId, nowMs });
    tx.update(claim.ref, doneFields(nowMs, plan.outcome));
    return plan.outcome;
  });
}

function writePlan(
  tx: Transaction,
  plan: MirrorPlan,
  at: {
    mirrorRef: FirebaseFirestore.DocumentReference;
    tombstoneRef: FirebaseFirestore.DocumentReference;
    mirrorExists: boolean;
    task: MirrorTask;
    taskId: string;
    nowMs: number;
  },
): void {
  if (plan.kind === "skip") return;
  if (plan.kind === "write") {
    const data = { ...plan.data, [MIRROR_MARK.mirroredAt]: FieldValue.serverTimestamp() };
    if (at.mirrorExists) tx.set(at.mirrorRef, data, { merge: true });
    else tx.set(at.mirrorRef, data);
    return;
  }
  if (at.mirrorExists) tx.delete(at.mirrorRef);
  tx.set(at.tombstoneRef, {
    uid: at.task.uid,
    historyId: at.task.historyId,
    [MIRROR_MARK.taskId]: at.taskId,
    [MIRROR_MARK.taskCreatedAt]: at.task.createdAt,
    removedAt: Timestamp.fromMillis(at.nowMs),
    expireAt: Timestamp.fromMillis(at.nowMs + TOMBSTONE_RETENTION_MS),
  });
}
