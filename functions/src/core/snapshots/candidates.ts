import { FieldPath, Timestamp, type DocumentSnapshot, type Firestore, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { CHECK_AFTER, planProject, queueKey, readProjectView, type DueRule, type FailureView, type Plan, type ProjectView } from "./due";
import { failureRefOf, readFailureView, retryDueQuery } from "./failures";

/**
 * Where a snapshot run finds its projects, from indexed queries, so a run reads in proportion to
 * the projects that need attention, each query's longest-waiting first:
 *   A. `opsSinceSnapshot >= maxOps`, B. `opsSinceSnapshot > 0` and `lastSnapshotAt` older than
 *   `maxHours`: both over projects the worker has handled before, ordered by their place
 *   (`snapshotCheckAfter`: when the worker last handled them, or when their backoff ends);
 *   R. failing projects whose retry is due, from the worker's failure records (failures.ts);
 *   C. projects updated since the previous run (cursor over `updatedAt`, workerState/snapshotScan):
 *   Firestore cannot query a missing field, so this is how new projects are found.
 * A project read from A, B or R is "in a window": the run must move it out whatever it finds
 * (processSnapshots), or that query would return it first again.
 */
/** The fields planning needs; a hostile owner's large fields are not transferred. */
const VIEW_FIELDS = ["opIndex", "lastSnapshotOpIndex", "opsSinceSnapshot", "lastSnapshotAt", "updatedAt", CHECK_AFTER];
const SCAN_DOC = "snapshotScan";
const SCAN_PAGE = 500;
/** Projects the new-project scan reads per run at most; it goes on from there next run. */
export const SCAN_BUDGET = 10_000;

const projects = (db: Firestore) => db.collection(COLLECTIONS.canvasProjects);

export function dueByOpsQuery(db: Firestore, maxOps: number, now: Timestamp) {
  return projects(db).where("opsSinceSnapshot", ">=", maxOps).where(CHECK_AFTER, "<=", now).orderBy(CHECK_AFTER);
}

export function dueByAgeQuery(db: Firestore, cutoff: Timestamp, now: Timestamp) {
  return projects(db)
    .where("opsSinceSnapshot", ">", 0)
    .where("lastSnapshotAt", "<", cutoff)
    .where(CHECK_AFTER, "<=", now)
    .orderBy(CHECK_AFTER);
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

export interface ScanCursor {
  updatedAt: Timestamp;
  projectId: string;
}

export interface Candidate {
  id: string;
  view: ProjectView;
  failure?: FailureView;
  plan: Plan;
  /** Read by A, B or R: the run moves it out of that window, whatever it finds. */
  inWindow: boolean;
  /** Found by the scan of updated projects: the cursor must not pass it while it is left undone. */
  scanned: boolean;
}

export interface Candidates {
  /** In queue order (`queueKey`, then id): every project read from a window, and the scanned ones to snapshot or set aside. */
  list: Candidate[];
  /** The scanned docs in cursor order, to move the cursor after the run. */
  scan: QueryDocumentSnapshot[];
  /** Failure records whose project no longer exists. */
  orphanFailures: string[];
}

/** Candidates for a run: up to `fetch` from each of A, B and R, and the scan's projects that need attention. */
export async function findCandidates(db: Firestore, rule: DueRule, nowMs: number, fetch: number): Promise<Candidates> {
  const now = Timestamp.fromMillis(nowMs);
  const cutoff = Timestamp.fromMillis(nowMs - rule.maxHours * 3600_000);
  const [byOps, byAge, retries] = await Promise.all([
    dueByOpsQuery(db, rule.maxOps, now)
      .select(...VIEW_FIELDS)
      .limit(fetch)
      .get(),
    dueByAgeQuery(db, cutoff, now)
      .select(...VIEW_FIELDS)
      .limit(fetch)
      .get(),
    retryDueQuery(db, now).limit(fetch).get(),
  ]);
  const found = new Map<string, { view: ProjectView; inWindow: boolean; scanned: boolean }>();
  const add = (doc: DocumentSnapshot, inWindow: boolean, scanned: boolean) => {
    const known = found.get(doc.id);
    found.set(doc.id, {
      view: readProjectView(doc.data()!),
      inWindow: inWindow || known?.inWindow === true,
      scanned: scanned || known?.scanned === true,
    });
  };
  for (const doc of [...byOps.docs, ...byAge.docs]) add(doc, true, false);
  const failures = new Map(retries.docs.map((d) => [d.id, readFailureView(d.data())]));
  const orphanFailures: string[] = [];
  for (const doc of await getAll(
    db,
    retries.docs.map((d) => projects(db).doc(d.id)),
    VIEW_FIELDS,
  )) {
    if (doc.exists) add(doc, true, false);
    else orphanFailures.push(doc.id);
  }
  const scan = await scanUpdated(db, now, (view) => planProject(view, nowMs, rule).kind === "snapshot", fetch);
  for (const doc of scan) add(doc, false, true);

  // Whether a project is in its backoff, or changed since it failed, is in its failure record.
  const acts = (view: ProjectView) => ["snapshot", "invalid", "wait"].includes(planProject(view, nowMs, rule).kind);
  const unknown = [...found].filter(([id, { view }]) => !failures.has(id) && acts(view)).map(([id]) => failureRefOf(db, id));
  for (const doc of await getAll(db, unknown)) if (doc.exists) failures.set(doc.id, readFailureView(doc.data()!));

  const list: Candidate[] = [];
  for (const [id, { view, inWindow, scanned }] of found) {
    const failure = failures.get(id);
    const plan = planProject(view, nowMs, rule, { failure });
    // A project only the scan found needs nothing unless it is to be snapshotted or set aside: it holds no window.
    if (inWindow || plan.kind === "snapshot" || plan.kind === "invalid") list.push({ id, view, failure, plan, inWindow, scanned });
  }
  list.sort((a, b) => queueKey(a.view) - queueKey(b.view) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { list, scan, orphanFailures };
}

async function getAll(db: Firestore, refs: FirebaseFirestore.DocumentReference[], fieldMask?: string[]): Promise<DocumentSnapshot[]> {
  if (refs.length === 0) return [];
  return db.getAll(...refs, ...(fieldMask ? [{ fieldMask }] : []));
}

/** Pages of updated projects from the cursor, until `wanted` need a snapshot, the budget is read, or none are left. */
async function scanUpdated(
  db: Firestore,
  now: Timestamp,
  due: (view: ProjectView) => boolean,
  wanted: number,
): Promise<QueryDocumentSnapshot[]> {
  const cursorDoc = await db.collection(COLLECTIONS.workerState).doc(SCAN_DOC).get();
  let cursor = readCursor(cursorDoc.data());
  const docs: QueryDocumentSnapshot[] = [];
  let found = 0;
  while (docs.length < SCAN_BUDGET && found < wanted) {
    const page = (
      await updatedSinceQuery(db, cursor, now)
        .select(...VIEW_FIELDS)
        .limit(SCAN_PAGE)
        .get()
    ).docs;
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
  if (last)
    await db
      .collection(COLLECTIONS.workerState)
      .doc(SCAN_DOC)
      .set({ updatedAt: last.get("updatedAt"), projectId: last.id });
}
