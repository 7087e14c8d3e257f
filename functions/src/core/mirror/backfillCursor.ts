import { createHash, randomUUID } from "node:crypto";
import { FieldValue, Timestamp, type DocumentReference, type DocumentSnapshot, type Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { isConflict } from "../errors";
import { parseWalkCursor, type WalkCursor, type WalkScope } from "./historyWalk";

/**
 * The backfill's cursor doc, `workerState/mirrorBackfill` (one per scope: a `uid` or `since` run
 * has its own, `mirrorBackfill-<hash of the scope>`), which makes a backfill resumable and single:
 *
 * - A run (from the first item to the last) has a `runId`; each invocation of it takes a lease on
 *   the doc (`leaseOwner`, `leaseExpiresAt`, BACKFILL_LEASE_MS) with a write conditioned on the doc
 *   as it read it, so of two invocations started together one holds it and the other reports
 *   "busy". The holder moves the cursor and renews the lease with writes conditioned on its own
 *   last write: an invocation that lost its lease (paused past it, and taken over) notices at its
 *   next write and stops.
 * - An invocation that stops (signal, time budget, lease lost) records `status: "stopped"` with the
 *   cursor, and releases the lease; the next invocation resumes the same run from the cursor. One
 *   killed without a word leaves its lease to run out, then the next resumes from the last cursor
 *   it saved: the items after it are walked again, and find their tasks already enqueued
 *   (repairTasks.ts). After `status: "complete"` the next invocation starts a new run.
 *
 * Everything read from the doc is checked: a field of another type counts as absent (a lease that
 * is not a Timestamp has run out; one implausibly far ahead runs out a lease after the doc's last write, heldUntil; a cursor that is not a position the scope's walk can reach starts the walk over: historyWalk.ts's
 * parseWalkCursor).
 */
export const BACKFILL_LEASE_MS = 60_000;
export const BACKFILL_CURSOR_DOC = "mirrorBackfill";

export interface BackfillState {
  runId: string;
  cursor?: WalkCursor;
  /** Documents the run's walk read, over all its invocations. */
  walked: number;
  /** Tasks the run enqueued, over all its invocations. */
  enqueued: number;
  startedAt: Timestamp;
}

/** The lease an invocation holds; `version` is the doc's update time after its own last write. */
export interface CursorLease {
  ref: DocumentReference;
  owner: string;
  version: Timestamp;
}

export type Acquired =
  | { kind: "acquired"; lease: CursorLease; state: BackfillState; resumed: boolean }
  | { kind: "busy"; leaseOwner: string; leaseExpiresAt: Timestamp };

const storedScope = (scope: WalkScope) => ({ uid: scope.uid ?? null, since: scope.since ?? null });

export function backfillCursorRef(db: Firestore, scope: WalkScope): DocumentReference {
  const workerState = db.collection(COLLECTIONS.workerState);
  if (scope.uid === undefined && !scope.since) return workerState.doc(BACKFILL_CURSOR_DOC);
  const key = JSON.stringify([scope.uid ?? null, scope.since ? [scope.since.seconds, scope.since.nanoseconds] : null]);
  return workerState.doc(`${BACKFILL_CURSOR_DOC}-${createHash("sha256").update(key).digest("hex").slice(0, 16)}`);
}

const count = (v: unknown) => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : 0);

function sameScope(stored: unknown, scope: WalkScope): boolean {
  if (typeof stored !== "object" || stored === null) return false;
  const { uid, since } = stored as Record<string, unknown>;
  const sinceMatches = scope.since ? since instanceof Timestamp && since.isEqual(scope.since) : since === null;
  return uid === (scope.uid ?? null) && sinceMatches;
}

/** The run the doc records, if it can be resumed: not complete, of this scope, with a readable run id. */
function resumable(stored: Record<string, unknown>, scope: WalkScope, now: Timestamp): BackfillState | undefined {
  const { runId, status, startedAt } = stored;
  if (status === "complete" || typeof runId !== "string" || runId.length === 0 || runId.length > 100 || !sameScope(stored.scope, scope))
    return undefined;
  const cursor = parseWalkCursor(scope, stored.cursor);
  return {
    runId,
    cursor,
    // A cursor that cannot be read restarts the walk, and its count with it.
    walked: cursor ? count(stored.walked) : 0,
    enqueued: count(stored.enqueued),
    startedAt: startedAt instanceof Timestamp ? startedAt : now,
  };
}

/**
 * When the lease the doc records runs out (ms, this process's clock), or undefined when it records
 * none. A lease runs at most `leaseMs` from now: one set farther out (a holder whose clock runs
 * ahead, a doc written wrong) is implausible, and is held only until `leaseMs` after the doc's
 * last write by the server's own clock (its update and read times), which a live holder renews
 * after every page. Without this, a lease in year 9999 would keep every backfill of the scope busy.
 */
function heldUntil(snap: DocumentSnapshot, nowMs: number, leaseMs: number): number | undefined {
  const { leaseExpiresAt } = snap.data() ?? {};
  if (!(leaseExpiresAt instanceof Timestamp)) return undefined;
  if (leaseExpiresAt.toMillis() <= nowMs + leaseMs || !snap.updateTime) return leaseExpiresAt.toMillis();
  return nowMs + snap.updateTime.toMillis() + leaseMs - snap.readTime.toMillis();
}

/** Takes the lease on the scope's cursor doc: resumes the run it records, or starts a new one. */
export async function acquireBackfill(
  db: Firestore,
  scope: WalkScope,
  owner: string,
  nowMs: number,
  leaseMs = BACKFILL_LEASE_MS,
): Promise<Acquired> {
  const ref = backfillCursorRef(db, scope);
  // A conflict means another invocation wrote first: read again, and its lease shows.
  for (let round = 0; round < 3; round++) {
    const snap = await ref.get();
    const stored = snap.data() ?? {};
    const { leaseOwner } = stored;
    const leaseEnd = heldUntil(snap, nowMs, leaseMs);
    if (typeof leaseOwner === "string" && leaseEnd !== undefined && leaseEnd > nowMs)
      return { kind: "busy", leaseOwner, leaseExpiresAt: Timestamp.fromMillis(leaseEnd) };
    const now = Timestamp.fromMillis(nowMs);
    const resumed = snap.exists ? resumable(stored, scope, now) : undefined;
    const state: BackfillState = resumed ?? { runId: randomUUID(), walked: 0, enqueued: 0, startedAt: now };
    const data = {
      scope: storedScope(scope),
      runId: state.runId,
      status: "running",
      cursor: state.cursor ?? null,
      walked: state.walked,
      enqueued: state.enqueued,
      startedAt: state.startedAt,
      updatedAt: now,
      leaseOwner: owner,
      leaseExpiresAt: Timestamp.fromMillis(nowMs + leaseMs),
    };
    try {
      const write = snap.exists
        ? await ref.update(
            { ...data, completedAt: FieldValue.delete(), stoppedBy: FieldValue.delete() },
            { lastUpdateTime: snap.updateTime! },
          )
        : await ref.create(data);
      return { kind: "acquired", lease: { ref, owner, version: write.writeTime }, state, resumed: resumed !== undefined };
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
  }
  throw new Error(
    `${ref.path} changed at every attempt to take its lease: is another backfill of this scope starting and stopping in a loop?`,
  );
}

const progressFields = (state: BackfillState, nowMs: number) => ({
  cursor: state.cursor ?? null,
  walked: state.walked,
  enqueued: state.enqueued,
  updatedAt: Timestamp.fromMillis(nowMs),
});

/** Writes `fields` if the lease still holds; false when another invocation took the doc over. */
async function writeHeld(lease: CursorLease, fields: Record<string, unknown>): Promise<boolean> {
  try {
    lease.version = (await lease.ref.update(fields, { lastUpdateTime: lease.version })).writeTime;
    return true;
  } catch (error) {
    if (isConflict(error)) return false;
    throw error;
  }
}

/** Saves the cursor and renews the lease. False: the lease was lost, stop. */
export function saveBackfill(lease: CursorLease, state: BackfillState, nowMs: number, leaseMs = BACKFILL_LEASE_MS): Promise<boolean> {
  return writeHeld(lease, { ...progressFields(state, nowMs), leaseExpiresAt: Timestamp.fromMillis(nowMs + leaseMs) });
}

/** Saves the cursor, records how the invocation ended, and gives the lease up. False: the lease was lost before. */
export function releaseBackfill(
  lease: CursorLease,
  state: BackfillState,
  end: { complete: boolean; stoppedBy?: string },
  nowMs: number,
): Promise<boolean> {
  return writeHeld(lease, {
    ...progressFields(state, nowMs),
    status: end.complete ? "complete" : "stopped",
    ...(end.complete ? { completedAt: Timestamp.fromMillis(nowMs) } : {}),
    stoppedBy: end.stoppedBy ?? FieldValue.delete(),
    leaseOwner: FieldValue.delete(),
    leaseExpiresAt: FieldValue.delete(),
  });
}
