import { Timestamp, type DocumentData, type Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { countOf } from "../count";
import { isIndex, millis, retryDelayMs, type FailureView } from "./due";

/**
 * Failing projects: one worker-private record per project, `canvasSnapshotFailures/{projectId}`,
 * kept outside the project doc so that it can always be written (a project doc its owner filled to
 * Firestore's size limit takes no new field). Created when a run claims a project (as "did not
 * finish") or a snapshot fails, deleted by the snapshot that succeeds, by a run that finds nothing
 * left to snapshot, or with the project. Read by the retry query and by `status`.
 */
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

const MAX_ERROR_CHARS = 1000;

export const failureRefOf = (db: Firestore, projectId: string) => db.collection(COLLECTIONS.canvasSnapshotFailures).doc(projectId);

/** A failure record with its backoff: retried `retryDelayMs(attempts)` after now. */
export function failureRecord(f: Omit<SnapshotFailure, "failedAt" | "retryAt">, nowMs: number): SnapshotFailure {
  return {
    ...f,
    error: f.error.slice(0, MAX_ERROR_CHARS),
    failedAt: Timestamp.fromMillis(nowMs),
    retryAt: Timestamp.fromMillis(nowMs + retryDelayMs(f.attempts)),
  };
}

/** The worker wrote it, but a record edited by hand must not stop a run: unreadable fields read as a first failure, due now. */
export function readFailureView(data: DocumentData): FailureView {
  return {
    attempts: isIndex(data.attempts) && data.attempts > 0 ? data.attempts : 1,
    opIndex: isIndex(data.opIndex) ? data.opIndex : null,
    retryAt: millis(data.retryAt) ?? 0,
  };
}

/** Failing projects whose retry is due, the longest due first. */
export function retryDueQuery(db: Firestore, now: Timestamp) {
  return db.collection(COLLECTIONS.canvasSnapshotFailures).where("retryAt", "<=", now).orderBy("retryAt");
}

/** Failing projects, most recent failure first (for `status`). */
export function failingQuery(db: Firestore) {
  return db.collection(COLLECTIONS.canvasSnapshotFailures).orderBy("failedAt", "desc");
}

export interface FailingProjects {
  count: number;
  /** The most recent failures first. */
  recent: { projectId: string; error: string; permanent: boolean; attempts: number; failedAt: string | null; retryAt: string | null }[];
}

export async function readFailingProjects(db: Firestore, limit = 20): Promise<FailingProjects> {
  const [count, recent] = await Promise.all([
    countOf(db.collection(COLLECTIONS.canvasSnapshotFailures)),
    failingQuery(db).limit(limit).get(),
  ]);
  const iso = (v: unknown) => (v instanceof Timestamp ? v.toDate().toISOString() : null);
  return {
    count,
    recent: recent.docs.map((d) => {
      const f = d.data();
      return {
        projectId: d.id,
        error: String(f.error ?? ""),
        permanent: f.permanent === true,
        attempts: Number(f.attempts ?? 0),
        failedAt: iso(f.failedAt),
        retryAt: iso(f.retryAt),
      };
    }),
  };
}
