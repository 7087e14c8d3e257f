import { randomUUID } from "node:crypto";
import type { DocumentSnapshot } from "firebase-admin/firestore";
import type { WorkerDeps } from "../deps";
import { errorMessage, isConflict, isRejectedByFirestore, PermanentError } from "../errors";
import type { Logger } from "../logger";
import { applyTasks, type ClaimedTask } from "./applyTask";
import { claimLimits, claimsInCommit, decideClaim } from "./claim";
import { claimInCommit } from "./lease";
import { runLeased } from "./leasedTask";
import type { ProcessTaskOptions, TaskResult } from "./processMirrorTask";
import { ProfileCache } from "./profiles";
import { parseMirrorTask, readTaskState } from "./task";
import { completed, failedRun, unclaimedRun, withinDeadline, type Run } from "./taskRun";

/**
 * A batch of tasks as a query or an event returned them, start to finish, at a cost in round trips
 * that does not grow with the batch (up to MAX_GROUP_TASKS); `pool` transactions run at once:
 *
 * - A task that never ran and is new (claim.ts) is claimed in the commit that applies it. Such
 *   tasks are applied in groups of up to MAX_GROUP_TASKS, each by one transaction (applyTask.ts):
 *   one read of the group's sources and mirror docs, the owners' profiles beside it, one commit.
 *   A batch of the seed's 12 tasks is one group: 2 round trips and 2 RPCs for all 12. (Measured
 *   on the emulator, four groups of 3 cost about 45 % more CPU per task than one group of 12, in
 *   the worker and the emulator alike, for the same round trips.)
 * - Every other task (retries, expired leases, invalid tasks, a backlog older than
 *   COMMIT_CLAIM_MAX_AGE_MS) runs alone with a lease (leasedTask.ts).
 * - Tasks for the same mirror doc never share a round: the second waits for the first.
 *
 * Failures stay with their task. A plan that fails for good fails its task alone. A commit
 * Firestore refuses is retried task by task, to find the one it refuses. A commit that fails its
 * fence means another worker or the app changed one of the group's tasks since it was read: the
 * group's tasks are read again; the changed ones are left to whoever changed them, the others are
 * applied once more; a second such failure leaves them to the next poll. Nothing of a failed commit
 * lands, so no task's effect lands twice.
 */
export const MAX_GROUP_TASKS = 25;

export interface BatchOptions extends ProcessTaskOptions {
  /** Transactions (groups or leased tasks) at once; 1: one after another. */
  pool?: number;
}

interface Context {
  deps: WorkerDeps;
  options: ProcessTaskOptions;
  pool: number;
  profiles: ProfileCache;
}

type Candidate = ClaimedTask & { snap: DocumentSnapshot };

export async function processTaskBatch(deps: WorkerDeps, snaps: DocumentSnapshot[], options: BatchOptions = {}): Promise<TaskResult[]> {
  const started = deps.clock.now();
  const context: Context = { deps, options, pool: Math.max(1, options.pool ?? 1), profiles: options.profiles ?? new ProfileCache(0) };
  const runs = await runAll(context, snaps);
  const durationMs = deps.clock.now() - started;
  return snaps.map((snap) => {
    const run = runs.get(snap.id) ?? "conflict";
    return { taskId: snap.id, durationMs, ...(run === "conflict" ? { status: "skipped", reason: "claim-conflict", lostRace: true } : run) };
  });
}

/** A task whose claim can ride in its commit, with its claim; undefined for every other task. */
function commitCandidate(deps: WorkerDeps, snap: DocumentSnapshot, workerId: string): Candidate | undefined {
  const now = deps.clock.now();
  if (!snap.exists) return undefined;
  const data = snap.data()!;
  const state = readTaskState(data);
  if (!state.ok || decideClaim(state.value, now, claimLimits(deps.config)).kind !== "claim") return undefined;
  // The task's age from its server create time to the later of the read's server time and the worker's clock: a
  // slow worker clock cannot keep an old task off the leased path (a fast one only leases a task sooner).
  if (!claimsInCommit(state.value, snap.createTime?.toMillis(), Math.max(now, serverTimeOf(snap) ?? now))) return undefined;
  const parsed = parseMirrorTask(data, snap.createTime!.toMillis());
  if (!parsed.ok) return undefined;
  return { snap, task: parsed.value, claim: claimInCommit(snap, `${workerId}:${randomUUID()}`, state.value.attempts + 1) };
}

/**
 * The server time `snap` was read at; for a document a trigger's event carried, which has no read
 * time (firebase-functions builds it from the event, and its `readTime` getter throws), the time
 * it was written.
 */
function serverTimeOf(snap: DocumentSnapshot): number | undefined {
  try {
    return snap.readTime.toMillis();
  } catch {
    return snap.updateTime?.toMillis();
  }
}

async function runAll(context: Context, snaps: DocumentSnapshot[]): Promise<Map<string, Run>> {
  const workerId = context.options.workerId ?? "worker";
  const candidates: Candidate[] = [];
  const leased: DocumentSnapshot[] = [];
  for (const snap of snaps) {
    const candidate = commitCandidate(context.deps, snap, workerId);
    if (candidate) candidates.push(candidate);
    else leased.push(snap);
  }
  const runs = new Map<string, Run>();
  const jobs: (() => Promise<void>)[] = leased.map(
    (snap) => async () =>
      void runs.set(
        snap.id,
        await runLeased(context.deps, snap, context.options, context.profiles).catch((e) => unclaimedRun(context.deps, snap.id, e)),
      ),
  );
  const rounds = roundsByMirror(candidates);
  // The first round runs beside the leased tasks; a later round (a second task for a mirror doc) after it.
  for (const [i, members] of rounds.entries()) {
    const groups = inGroups(members);
    const groupJobs = groups.map((group) => async () => {
      for (const [id, run] of await runGroup(context, group, 1)) runs.set(id, run);
    });
    await inPool(i === 0 ? [...groupJobs, ...jobs] : groupJobs, context.pool);
  }
  if (!rounds.length) await inPool(jobs, context.pool);
  return runs;
}

/** The tasks in rounds such that no round holds two tasks for one mirror doc (each doc's tasks in the order given; the ordering marks make any order safe). */
function roundsByMirror(candidates: Candidate[]): Candidate[][] {
  const rounds: Candidate[][] = [];
  const seen = new Map<string, number>();
  for (const c of candidates) {
    const n = seen.get(c.task.historyId) ?? 0;
    seen.set(c.task.historyId, n + 1);
    (rounds[n] ??= []).push(c);
  }
  return rounds;
}

/** Groups of at most MAX_GROUP_TASKS, in order. */
function inGroups<T>(items: T[]): T[][] {
  const groups: T[][] = [];
  for (let i = 0; i < items.length; i += MAX_GROUP_TASKS) groups.push(items.slice(i, i + MAX_GROUP_TASKS));
  return groups;
}

async function inPool(jobs: (() => Promise<void>)[], pool: number): Promise<void> {
  const queue = [...jobs];
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) await job();
  };
  await Promise.all(Array.from({ length: Math.min(pool, queue.length) }, worker));
}

async function runGroup(context: Context, group: Candidate[], round: number): Promise<[string, Run][]> {
  const { deps, options } = context;
  const { clock, config } = deps;
  const started = clock.now();
  const logs = group.map((c) => deps.logger.child({ taskId: c.snap.id }));
  group.forEach((c, i) => {
    options.inFlight?.set(c.snap.id, c.claim);
    logs[i].debug("task.claimed", { claim: c.claim.kind, attempt: c.claim.attempt });
  });
  try {
    const results = await withinDeadline(
      (signal) => applyTasks(deps.db, group, clock, context.profiles, signal),
      config.MIRROR_LEASE_MS / 2,
      options.abandoned,
    );
    const durationMs = clock.now() - started;
    return await Promise.all(
      group.map(async (c, i): Promise<[string, Run]> => {
        const result = results[i];
        return [
          c.snap.id,
          result.ok ? completed(c.claim, c.task, result.applied, durationMs, logs[i]) : await failed(context, c, result.error, logs[i]),
        ];
      }),
    );
  } catch (error) {
    if (isConflict(error)) return raced(context, group, round, logs);
    // Firestore refused the commit: one of the tasks' writes is at fault; find which, task by task.
    if (isRejectedByFirestore(error) && group.length > 1)
      return (await Promise.all(group.map((c) => runGroup(context, [c], round)))).flat();
    const cause = isRejectedByFirestore(error)
      ? new PermanentError(`Firestore refused to apply the task: ${errorMessage(error)}`, undefined, { cause: error })
      : error;
    return Promise.all(group.map(async (c, i): Promise<[string, Run]> => [c.snap.id, await failed(context, c, cause, logs[i])]));
  } finally {
    for (const c of group) options.inFlight?.delete(c.snap.id);
  }
}

async function failed(context: Context, c: Candidate, error: unknown, log: Logger): Promise<Run> {
  return failedRun(context.deps, c.snap, c.claim, c.task, error, log, context.options.random).catch((e) =>
    unclaimedRun(context.deps, c.snap.id, e),
  );
}

/**
 * The group's commit failed its fence. A task that changed since it was read was taken by another
 * worker (or handed back by this one at shutdown, or rewritten by the app): it is left alone, for
 * whoever holds it or the next poll. The others still hold their claims and are applied once more.
 */
async function raced(context: Context, group: Candidate[], round: number, logs: Logger[]): Promise<[string, Run][]> {
  if (round > 1) return group.map((c) => [c.snap.id, "conflict"]);
  let fresh: DocumentSnapshot[];
  try {
    fresh = await context.deps.db.getAll(...group.map((c) => c.claim.ref));
  } catch (error) {
    return group.map((c) => [c.snap.id, unclaimedRun(context.deps, c.snap.id, error)]);
  }
  const unchanged = group.filter((c, i) => fresh[i].updateTime?.isEqual(c.claim.version));
  const lost = group.flatMap((c, i): [string, Run][] => {
    if (unchanged.includes(c)) return [];
    // Completed by another worker (a duplicate delivery, a poller beside the trigger): nothing to report.
    if (fresh[i].get("status") === "done") return [[c.snap.id, { status: "skipped", reason: "done", lostRace: true }]];
    logs[i].warn("task.lease_lost", { op: c.task.op, attempt: c.claim.attempt, claim: c.claim.kind });
    return [[c.snap.id, { status: "lease-lost", attempt: c.claim.attempt, lostRace: true }]];
  });
  const again = unchanged.length ? await runGroup(context, unchanged, round + 1) : [];
  return [...lost, ...again];
}
