import { FieldPath, Timestamp, type Firestore, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { countOf } from "../count";
import { planProject, queueKey, readProjectView, WORKER_FIELDS, type DueRule, type Plan, type ProjectView } from "./due";

/**
 * Where a snapshot run finds its projects, from indexed queries on the project doc, so a run
 * reads in proportion to the projects that need attention, oldest in the queue first:
 *   A. `opsSinceSnapshot >= maxOps`, B. `opsSinceSnapshot > 0` and `lastSnapshotAt` older than
 *   `maxHours`, R. failing projects whose retry is due: projects the worker has handled before,
 *   ordered by `snapshotCheckAfter` (when it last handled them, or when their backoff ends).
 *   C. Projects updated since the previous run (cursor over `updatedAt`, workerState/snapshotScan):
 *   Firestore cannot query a missing field, so this is how new projects are found.
 */
const CHECK_AFTER = WORKER_FIELDS.checkAfter;
const RETRY_AT = `${WORKER_FIELDS.failure}.retryAt`;
const FAILED_AT = `${WORKER_FIELDS.failure}.failedAt`;
/** The fields planning needs; a hostile owner's large fields are not transferred. */
const VIEW_FIELDS = ["opIndex", "lastSnapshotOpIndex", "opsSinceSnapshot", "lastSnapshotAt", "updatedAt", CHECK_AFTER, WORKER_FIELDS.failure];
const SCAN_DOC = "snapshotScan";
const SCAN_PAGE = 500;
/** Projects the new-project scan reads per run at most; it goes on from there next run. */
export const SCAN_BUDGET = 10_000;

const projects = (db: Firestore) => db.collection(COLLECTIONS.canvasProjects);

export function dueByOpsQuery(db: Firestore, maxOps: number, now: Timestamp) {
  return projects(db).where("opsSinceSnapshot", ">=", maxOps).where(CHECK_AFTER, "<=", now).orderBy(CHECK_AFTER);
}

export function dueByAgeQuery(db: Firestore, cutoff: Timestamp, now: Timestamp) {
  return projects(db).where("opsSinceSnapshot", ">", 0).where("lastSnapshotAt", "<", cutoff).where(CHECK_AFTER, "<=", now).orderBy(CHECK_AFTER);
}

export function retryDueQuery(db: Firestore, now: Timestamp) {
  return projects(db).where(RETRY_AT, "<=", now).orderBy(RETRY_AT);
}

/** Projects updated up to `now` (a future `updatedAt` cannot move the cursor past today's projects). */
export function updatedSinceQuery(db: Firestore, cursor: ScanCursor | undefined, now: Timestamp) {
  const q = projects(db).where("updatedAt", "<=", now).orderBy("updatedAt").orderBy(FieldPath.documentId());
  return cursor ? q.startAfter(cursor.updatedAt, cursor.projectId) : q;
}

/** For `status`: what the projects' counters say, whether or not the worker has seen the projects yet. */
export function countersDueByOpsQuery(db: Firestore, maxOps: number) {
  return projects(db).where("opsSinceSnapshot", ">=", maxOps);
}

export function countersDueByAgeQuery(db: Firestore, cutoff: Timestamp) {
  return projects(db).where("opsSinceSnapshot", ">", 0).where("lastSnapshotAt", "<", cutoff);
}

/** Projects with a recorded failure, most recent first (for `status`). */
export function failingQuery(db: Firestore) {
  return projects(db).orderBy(FAILED_AT, "desc");
}

export interface FailingProjects {
  count: number;
  /** The most recent failures first. */
  recent: { projectId: string; error: string; permanent: boolean; attempts: number; failedAt: string | null; retryAt: string | null }[];
}

export async function readFailingProjects(db: Firestore, limit = 20): Promise<FailingProjects> {
  const [count, recent] = await Promise.all([countOf(failingQuery(db)), failingQuery(db).select(WORKER_FIELDS.failure).limit(limit).get()]);
  const iso = (v: unknown) => (v instanceof Timestamp ? v.toDate().toISOString() : null);
  return {
    count,
    recent: recent.docs.map((d) => {
      const f = (d.get(WORKER_FIELDS.failure) ?? {}) as Record<string, unknown>;
      return { projectId: d.id, error: String(f.error ?? ""), permanent: f.permanent === true, attempts: Number(f.attempts ?? 0), failedAt: iso(f.failedAt), retryAt: iso(f.retryAt) };
    }),
  };
}

export interface ScanCursor {
  updatedAt: Timestamp;
  projectId: string;
}

export interface Candidate {
  id: string;
  view: ProjectView;
  plan: Plan;
  /** Found by the scan of updated projects: the cursor must not pass it while it is left undone. */
  scanned: boolean;
}

export interface Candidates {
  /** In queue order: oldest `queueKey` first, then id. */
  list: Candidate[];
  /** The scanned docs in cursor order, to move the cursor after the run. */
  scan: QueryDocumentSnapshot[];
}

/** Candidates for a run: up to `fetch` from each of A, B, R, and the scan's projects that need attention. */
export async function findCandidates(db: Firestore, rule: DueRule, nowMs: number, fetch: number): Promise<Candidates> {
  const now = Timestamp.fromMillis(nowMs);
  const cutoff = Timestamp.fromMillis(nowMs - rule.maxHours * 3600_000);
  const queries = [dueByOpsQuery(db, rule.maxOps, now), dueByAgeQuery(db, cutoff, now), retryDueQuery(db, now)];
  const results = await Promise.all(queries.map((q) => q.select(...VIEW_FIELDS).limit(fetch).get()));
  const byId = new Map<string, Candidate>();
  const add = (doc: QueryDocumentSnapshot, scanned: boolean) => {
    const view = readProjectView(doc.data());
    const plan = planProject(view, nowMs, rule);
    if (plan.kind === "none" || plan.kind === "wait") return;
    const known = byId.get(doc.id);
    byId.set(doc.id, { id: doc.id, view, plan, scanned: scanned || known?.scanned === true });
  };
  for (const doc of results.flatMap((r) => r.docs)) add(doc, false);
  const scan = await scanUpdated(db, now, (view) => planProject(view, nowMs, rule).kind === "snapshot", fetch);
  for (const doc of scan) add(doc, true);
  const list = [...byId.values()].sort((a, b) => queueKey(a.view) - queueKey(b.view) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { list, scan };
}

/** Pages of updated projects from the cursor, until `wanted` need a snapshot, the budget is read, or none are left. */
async function scanUpdated(db: Firestore, now: Timestamp, due: (view: ProjectView) => boolean, wanted: number): Promise<QueryDocumentSnapshot[]> {
  const cursorDoc = await db.collection(COLLECTIONS.workerState).doc(SCAN_DOC).get();
  let cursor = readCursor(cursorDoc.data());
  const docs: QueryDocumentSnapshot[] = [];
  let found = 0;
  while (docs.length < SCAN_BUDGET && found < wanted) {
    const page = (await updatedSinceQuery(db, cursor, now).select(...VIEW_FIELDS).limit(SCAN_PAGE).get()).docs;
    docs.push(...page);
    found += page.filter((d) => due(readProjectView(d.data()))).length;
    if (page.length < SCAN_PAGE) break;
    const last = page[page.length - 1];
    cursor = { updatedAt: last.get("updatedAt") as Timestamp, projectId: last.id };
  }
  return docs;
}

function readCursor(data: Record<string, unknown> | undefined): ScanCursor | undefined {
  if (!data || !(data.updatedAt instanceof Timestamp) || typeof data.projectId !== "string") return undefined;
  return { updatedAt: data.updatedAt, projectId: data.projectId };
}

/** Moves the cursor up to, not past, the first scanned project left undone this run. */
export async function advanceScanCursor(db: Firestore, scan: QueryDocumentSnapshot[], leftUndone: Set<string>): Promise<void> {
  const firstLeft = scan.findIndex((d) => leftUndone.has(d.id));
  const last = firstLeft === -1 ? scan[scan.length - 1] : scan[firstLeft - 1];
  if (last) await db.collection(COLLECTIONS.workerState).doc(SCAN_DOC).set({ updatedAt: last.get("updatedAt"), projectId: last.id });
}
