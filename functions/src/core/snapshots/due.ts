import { Timestamp, type DocumentData } from "firebase-admin/firestore";
import { PermanentError } from "../errors";
import { SNAPSHOT_RETRY_BACKOFF } from "../limits";

/**
 * When a project gets a snapshot, in what order, and how a failing one is retried (pure).
 * README "When, and in what order" states these rules for users.
 */

/**
 * The one project field the snapshot worker writes besides the snapshot fields the app reads
 * (docs/DATA_MODEL.md; firestore.rules keeps clients off it): a Timestamp, the project's place in the
 * queue. Once a project has it, moving the project back changes its value, never the doc's size, so
 * even a doc at Firestore's size limit can be moved.
 */
export const CHECK_AFTER = "snapshotCheckAfter";

/** A project doc as the worker reads it: any field may be missing, of another type, or written by a hostile owner. */
export interface ProjectView {
  /** null: present but not an integer >= -1. */
  opIndex: number | null;
  /** -1 when the worker never recorded one. */
  lastSnapshotOpIndex: number;
  /** undefined: absent (counts as 0); NaN: not a number. Any value but the true count is a lie to repair. */
  opsSinceSnapshot?: number;
  lastSnapshotAt?: number;
  updatedAt?: number;
  checkAfter?: number;
}

/** A project's failure record (failures.ts) as far as planning needs it. */
export interface FailureView {
  /** Consecutive failed attempts, >= 1. */
  attempts: number;
  /** The project's opIndex when it failed (null when opIndex itself was invalid). */
  opIndex: number | null;
  retryAt: number;
}

export const isIndex = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= -1;
export const millis = (v: unknown) => (v instanceof Timestamp ? v.toMillis() : undefined);

export function readProjectView(data: DocumentData): ProjectView {
  const counter: unknown = data.opsSinceSnapshot;
  return {
    opIndex: data.opIndex === undefined ? -1 : isIndex(data.opIndex) ? data.opIndex : null,
    lastSnapshotOpIndex: isIndex(data.lastSnapshotOpIndex) ? data.lastSnapshotOpIndex : -1,
    opsSinceSnapshot: counter === undefined ? undefined : typeof counter === "number" ? counter : NaN,
    lastSnapshotAt: millis(data.lastSnapshotAt),
    updatedAt: millis(data.updatedAt),
    checkAfter: millis(data[CHECK_AFTER]),
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
 * `lastSnapshotOpIndex`; `opsSinceSnapshot` is only the counter the queries use, and any other
 * value than the new ops, Infinity and NaN included, is repaired).
 * Due: new ops and either `maxOps` of them, no snapshot yet, or a snapshot `maxHours` old.
 * A project waits until its place (`checkAfter`) or its failure's retry, whichever is later, unless
 * it changed since it failed; `force` snapshots any project with new ops, backoff or not.
 */
export function planProject(
  view: ProjectView,
  nowMs: number,
  rule: DueRule,
  { force = false, failure }: { force?: boolean; failure?: FailureView } = {},
): Plan {
  const changedSinceFailure = failure !== undefined && failure.opIndex !== view.opIndex;
  const waitUntil = Math.max(view.checkAfter ?? -Infinity, failure?.retryAt ?? -Infinity);
  if (waitUntil > nowMs && !changedSinceFailure && !force) return { kind: "wait", untilMs: waitUntil };
  if (view.opIndex === null) return { kind: "invalid", error: new PermanentError("opIndex must be an integer >= -1", "opIndex") };
  const newOps = view.opIndex - view.lastSnapshotOpIndex;
  const counter = view.opsSinceSnapshot ?? 0;
  if (newOps <= 0) return counter === 0 ? { kind: "none" } : { kind: "repair", opsSinceSnapshot: 0 };
  const due = force || newOps >= rule.maxOps || view.lastSnapshotAt === undefined || nowMs - view.lastSnapshotAt >= rule.maxHours * H;
  if (due) return { kind: "snapshot" };
  return counter === newOps ? { kind: "none" } : { kind: "repair", opsSinceSnapshot: newOps };
}

/** Backoff after `attempts` consecutive failures: 1 h, 2 h, 4 h, ... at most 7 days (SNAPSHOT_RETRY_BACKOFF). */
export function retryDelayMs(attempts: number): number {
  return Math.min(SNAPSHOT_RETRY_BACKOFF.baseMs * 2 ** Math.max(0, attempts - 1), SNAPSHOT_RETRY_BACKOFF.capMs);
}

/** Position in the queue: when the worker last handled the project (or its backoff ends); never handled: its last update. */
export function queueKey(view: ProjectView): number {
  return view.checkAfter ?? view.updatedAt ?? 0;
}
