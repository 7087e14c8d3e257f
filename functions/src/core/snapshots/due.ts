import { Timestamp, type DocumentData } from "firebase-admin/firestore";
import { PermanentError } from "../errors";
import { isMap } from "./ops";

/**
 * When a project gets a snapshot, in what order, and how a failing one is retried (pure).
 * README "When, and in what order" states these rules for users.
 */

/** The project fields only the snapshot worker writes, besides the snapshot fields the app reads (docs/DATA_MODEL.md); firestore.rules keeps clients off them. */
export const WORKER_FIELDS = {
  /** Timestamp: the worker looks at the project again after this; due projects go oldest first. */
  checkAfter: "snapshotCheckAfter",
  /** Map, present while the project fails: see SnapshotFailure. */
  failure: "snapshotFailure",
} as const;

export interface SnapshotFailure {
  error: string;
  /** No retry can fix it while the project stays as it is (PermanentError). */
  permanent: boolean;
  /** Consecutive failed attempts. */
  attempts: number;
  /** The project's opIndex when it failed (null when opIndex itself was invalid). */
  opIndex: number | null;
  failedAt: Timestamp;
  retryAt: Timestamp;
}

/** A project doc as the worker reads it: any field may be missing, of another type, or written by a hostile owner. */
export interface ProjectView {
  /** null: present but not an integer >= -1. */
  opIndex: number | null;
  /** -1 when the worker never recorded one. */
  lastSnapshotOpIndex: number;
  /** undefined: absent or not a number (counts as 0). */
  opsSinceSnapshot?: number;
  lastSnapshotAt?: number;
  updatedAt?: number;
  checkAfter?: number;
  failure?: { error: string; attempts: number; permanent: boolean; opIndex: number | null; retryAt: number };
}

const isIndex = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= -1;
const millis = (v: unknown) => (v instanceof Timestamp ? v.toMillis() : undefined);

export function readProjectView(data: DocumentData): ProjectView {
  const failure = data[WORKER_FIELDS.failure];
  return {
    opIndex: data.opIndex === undefined ? -1 : isIndex(data.opIndex) ? data.opIndex : null,
    lastSnapshotOpIndex: isIndex(data.lastSnapshotOpIndex) ? data.lastSnapshotOpIndex : -1,
    opsSinceSnapshot: typeof data.opsSinceSnapshot === "number" && Number.isFinite(data.opsSinceSnapshot) ? data.opsSinceSnapshot : undefined,
    lastSnapshotAt: millis(data.lastSnapshotAt),
    updatedAt: millis(data.updatedAt),
    checkAfter: millis(data[WORKER_FIELDS.checkAfter]),
    failure: isMap(failure)
      ? {
          error: typeof failure.error === "string" ? failure.error : "",
          attempts: isIndex(failure.attempts) && failure.attempts > 0 ? failure.attempts : 1,
          permanent: failure.permanent === true,
          opIndex: isIndex(failure.opIndex) ? failure.opIndex : null,
          retryAt: millis(failure.retryAt) ?? 0,
        }
      : undefined,
  };
}

export type Plan =
  | { kind: "snapshot" }
  /** The counter disagrees with `opIndex - lastSnapshotOpIndex` and there is nothing to snapshot: set it right. */
  | { kind: "repair"; opsSinceSnapshot: number }
  | { kind: "invalid"; error: PermanentError }
  | { kind: "wait"; untilMs: number }
  | { kind: "none" };

export interface DueRule {
  maxOps: number;
  maxHours: number;
}

const H = 3600_000;

/**
 * What to do with a project now. New ops are `opIndex - lastSnapshotOpIndex` (the worker writes
 * `lastSnapshotOpIndex`; `opsSinceSnapshot` is only the owner-writable counter the queries use).
 * Due: new ops and either `maxOps` of them, no snapshot yet, or a snapshot `maxHours` old.
 * A project in backoff waits, unless it changed since it failed; one claimed by a run waits.
 * `force` snapshots any project with new ops, backoff or not.
 */
export function planProject(view: ProjectView, nowMs: number, rule: DueRule, force = false): Plan {
  if (view.opIndex === null) return { kind: "invalid", error: new PermanentError("opIndex must be an integer >= -1", "opIndex") };
  const failure = view.failure;
  const changedSinceFailure = failure !== undefined && failure.opIndex !== view.opIndex;
  const inBackoff = failure !== undefined && view.checkAfter !== undefined && view.checkAfter <= failure.retryAt;
  const waiting = view.checkAfter !== undefined && view.checkAfter > nowMs && !(inBackoff && changedSinceFailure);
  if (waiting && !force) return { kind: "wait", untilMs: view.checkAfter! };
  const newOps = view.opIndex - view.lastSnapshotOpIndex;
  const counter = view.opsSinceSnapshot ?? 0;
  if (newOps <= 0) return counter === 0 ? { kind: "none" } : { kind: "repair", opsSinceSnapshot: 0 };
  const due = force || newOps >= rule.maxOps || view.lastSnapshotAt === undefined || nowMs - view.lastSnapshotAt >= rule.maxHours * H;
  if (due) return { kind: "snapshot" };
  return counter === newOps ? { kind: "none" } : { kind: "repair", opsSinceSnapshot: newOps };
}

/** Backoff after `attempts` consecutive failures: 1 h, 2 h, 4 h, ... at most 7 days. */
export function retryDelayMs(attempts: number): number {
  return Math.min(H * 2 ** Math.max(0, attempts - 1), 7 * 24 * H);
}

/** Position in the queue: when the worker last handled the project (or its backoff ends); never handled: its last update. */
export function queueKey(view: ProjectView): number {
  return view.checkAfter ?? view.updatedAt ?? 0;
}
