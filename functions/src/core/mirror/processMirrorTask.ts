import { randomUUID } from "node:crypto";
import { FieldPath, FieldValue, Timestamp, type DocumentReference, type DocumentSnapshot, type Firestore, type WriteBatch } from "firebase-admin/firestore";
import type { Clock } from "../clock";
import { COLLECTIONS, historyItemPath } from "../collections";
import type { WorkerDeps } from "../deps";
import { errorMessage, isConflict } from "../errors";
import { decideClaim } from "./claim";
import { claimTask, doneFields, markDeadLetter, recordFailure, type Claim } from "./lease";
import { needsUserProfile, planMirrorWrite, type Doc, type MirrorPlan, type Outcome } from "./plan";
import { parseMirrorTask, readTaskState, type MirrorTask } from "./task";

/**
 * One task, start to finish: claim (a lease), apply, complete. The mirror write and the `done`
 * mark commit atomically, conditioned on the task being unchanged since the claim (the fence),
 * so a worker whose lease ran out and was taken over commits nothing, and a task's effect lands once.
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

export const STATE_RETENTION_MS = 30 * 24 * 3600_000;

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
    const outcome = await applyTask(db, claim, task, clock);
    log.info("task.completed", { op: task.op, historyId: task.historyId, outcome, attempt: claim.attempt, durationMs: clock.now() - started });
    return result({ status: "done", outcome, attempt: claim.attempt });
  } catch (error) {
    if (error instanceof LeaseLostError) {
      log.warn("task.lease_lost", { op: task.op, attempt: claim.attempt });
      return result({ status: "lease-lost", attempt: claim.attempt });
    }
    const message = errorMessage(error);
    const status = await recordFailure(claim, message, clock.now(), config.MIRROR_MAX_ATTEMPTS, options.random);
    const level = status === "dead-letter" ? "error" : "warn";
    log[level]("task.failed", { op: task.op, historyId: task.historyId, attempt: claim.attempt, error: message, status });
    return result({ status, error: message, attempt: claim.attempt });
  } finally {
    options.inFlight?.delete(taskId);
  }
}

const dataOf = (snap: DocumentSnapshot | undefined): Doc | undefined => (snap?.exists ? snap.data() : undefined);

const APPLY_ATTEMPTS = 5;

/**
 * Reads, plans, then commits the mirror write, the state mark and the `done` mark in one batch
 * whose every write is conditioned on what was read: the task unchanged since the claim (the
 * fence), the state and mirror docs unchanged since the read (ordering, and no lost concurrent
 * write). A conflict re-reads and re-plans; no lock is held at any point.
 */
async function applyTask(db: Firestore, claim: Claim, task: MirrorTask, clock: Clock): Promise<Outcome> {
  const refs = {
    mirror: db.collection(COLLECTIONS.publicGenerations).doc(task.historyId),
    state: db.collection(COLLECTIONS.mirrorState).doc(task.historyId),
    source: db.doc(historyItemPath(task.uid, task.historyId)),
  };
  for (let round = 1; ; round++) {
    const [mirrorSnap, stateSnap, sourceSnap] = await db.getAll(refs.mirror, refs.state, ...(task.op === "upsert" ? [refs.source] : []));
    const source = dataOf(sourceSnap);
    const user = needsUserProfile(task, source) ? dataOf(await db.collection(COLLECTIONS.users).doc(task.uid).get()) : undefined;
    const plan = planMirrorWrite({ taskId: claim.taskId, task, mirror: dataOf(mirrorSnap), state: dataOf(stateSnap), source, user });

    const batch = db.batch();
    const nowMs = clock.now();
    batch.update(claim.ref, doneFields(nowMs, plan.outcome), { lastUpdateTime: claim.version });
    writePlan(batch, plan, { refs, mirrorSnap, stateSnap, task, taskId: claim.taskId, nowMs });
    try {
      await batch.commit();
      return plan.outcome;
    } catch (error) {
      if (!isConflict(error)) throw error;
      const current = await claim.ref.get();
      if (!current.updateTime?.isEqual(claim.version)) throw new LeaseLostError("the task changed since it was claimed", { cause: error });
      if (round >= APPLY_ATTEMPTS) {
        throw new Error(`mirror doc ${task.historyId} kept changing during ${APPLY_ATTEMPTS} attempts to apply the task`, { cause: error });
      }
    }
  }
}

/** Field-by-field update arguments, so that keys with dots stay keys rather than nested paths. */
function fieldUpdates(data: Doc): [FieldPath, unknown][] {
  return Object.entries(data).map(([key, value]) => [new FieldPath(key), value]);
}

function writePlan(
  batch: WriteBatch,
  plan: MirrorPlan,
  at: {
    refs: { mirror: DocumentReference; state: DocumentReference };
    mirrorSnap: DocumentSnapshot;
    stateSnap: DocumentSnapshot;
    task: MirrorTask;
    taskId: string;
    nowMs: number;
  },
): void {
  if (plan.kind === "skip") return;
  const { refs, mirrorSnap, stateSnap } = at;
  if (plan.kind === "write") {
    const data = { ...plan.data, mirroredAt: FieldValue.serverTimestamp() };
    if (mirrorSnap.exists) {
      const [[firstPath, firstValue], ...rest] = fieldUpdates(data);
      batch.update(refs.mirror, firstPath, firstValue, ...rest.flat(), { lastUpdateTime: mirrorSnap.updateTime! });
    } else {
      batch.create(refs.mirror, data);
    }
  } else if (mirrorSnap.exists) {
    batch.delete(refs.mirror, { lastUpdateTime: mirrorSnap.updateTime! });
  }
  const removed = plan.kind === "remove";
  const mark = { uid: at.task.uid, historyId: at.task.historyId, taskId: at.taskId, taskCreatedAt: at.task.createdAt, removed, updatedAt: Timestamp.fromMillis(at.nowMs) };
  // A TTL policy forgets the state of removed items after a while; a live mirror doc keeps its state.
  const expireAt = Timestamp.fromMillis(at.nowMs + STATE_RETENTION_MS);
  if (stateSnap.exists) {
    batch.update(refs.state, { ...mark, expireAt: removed ? expireAt : FieldValue.delete() }, { lastUpdateTime: stateSnap.updateTime! });
  } else {
    batch.create(refs.state, removed ? { ...mark, expireAt } : mark);
  }
}
