import { randomUUID } from "node:crypto";
import type { DocumentSnapshot } from "firebase-admin/firestore";
import type { WorkerDeps } from "../deps";
import type { Logger } from "../logger";
import { applyTask } from "./applyTask";
import { claimLimits, decideClaim } from "./claim";
import { claimTask, type Claim } from "./lease";
import type { ProcessTaskOptions } from "./processMirrorTask";
import type { ProfileCache } from "./profiles";
import { parseMirrorTask, readTaskState, type MirrorTask } from "./task";
import { completed, deadLetter, failedRun, setTaskAside, withinDeadline, type Run } from "./taskRun";

/**
 * One task that cannot be claimed in its commit (claim.ts): check it, then either end it at once
 * (skip, dead letter, invalid) or claim it with a lease, apply it alone and record how the run
 * ended. When the task changed since `snap` was read, it decides once more on the task as it is now.
 */
export async function runLeased(
  deps: WorkerDeps,
  snap: DocumentSnapshot,
  options: ProcessTaskOptions,
  profiles: ProfileCache,
): Promise<Run> {
  const context: LeasedContext = { deps, options, profiles, log: deps.logger.child({ taskId: snap.id }) };
  const run = await runOnce(context, snap);
  if (run !== "conflict") return run;
  const again = await runOnce(context, await snap.ref.get());
  return again === "conflict" ? { status: "skipped", reason: "claim-conflict", lostRace: true } : { ...again, lostRace: true };
}

interface LeasedContext {
  deps: WorkerDeps;
  options: ProcessTaskOptions;
  profiles: ProfileCache;
  log: Logger;
}

async function runOnce(context: LeasedContext, snap: DocumentSnapshot): Promise<Run> {
  const { deps, options, log } = context;
  const { clock, config } = deps;
  const now = clock.now();
  if (!snap.exists) return { status: "skipped", reason: "missing" };
  const data = snap.data()!;
  const state = readTaskState(data);
  // The attempt that found the fault counts; a valid count before it is kept.
  if (!state.ok)
    return deadLetter(
      deps,
      snap,
      state.error,
      (Number.isSafeInteger(data.attempts) && data.attempts >= 0 ? data.attempts : 0) + 1,
      "invalid",
      log,
    );
  const { attempts } = state.value;
  const decision = decideClaim(state.value, now, claimLimits(config));
  if (decision.kind === "skip") return { status: "skipped", reason: decision.reason };
  if (decision.kind === "exhausted") return deadLetter(deps, snap, decision.error, attempts, "dead-letter", log);
  // Server time, so a worker's wrong clock refuses no valid task; the worker's clock only if a snapshot lacks both.
  const parsed = parseMirrorTask(data, (snap.createTime ?? snap.updateTime)?.toMillis() ?? now);
  if (!parsed.ok) return deadLetter(deps, snap, parsed.error, attempts + 1, "invalid", log);

  const claimed = await claimTask(snap, `${options.workerId ?? "worker"}:${randomUUID()}`, attempts + 1, now, config.MIRROR_LEASE_MS);
  if (claimed.kind === "conflict") return "conflict";
  if (claimed.kind === "refused") return setTaskAside(deps, snap, claimed.error, attempts + 1, log);
  options.inFlight?.set(snap.id, claimed.value);
  log.debug("task.claimed", { claim: "lease", attempt: attempts + 1 });
  try {
    return await applyLeased(context, snap, claimed.value, parsed.value);
  } finally {
    options.inFlight?.delete(snap.id);
  }
}

async function applyLeased(context: LeasedContext, snap: DocumentSnapshot, claim: Claim, task: MirrorTask): Promise<Run> {
  const { deps, options, profiles, log } = context;
  const { clock, config } = deps;
  const started = clock.now();
  try {
    const applied = await withinDeadline(
      (signal) => applyTask(deps.db, claim, task, clock, profiles, signal),
      config.MIRROR_LEASE_MS / 2,
      options.abandoned,
    );
    return completed(claim, task, applied, clock.now() - started, log);
  } catch (error) {
    return failedRun(deps, snap, claim, task, error, log, options.random);
  }
}
