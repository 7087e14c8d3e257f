import { FieldPath, Timestamp, type Firestore, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import type { WorkerDeps } from "../deps";
import { errorMessage } from "../errors";
import { needsSnapshot } from "./rules";
import { pruneSnapshots, snapshotProject } from "./snapshotProject";

/**
 * The snapshot worker. Candidates come from indexed queries on the project doc, so a run costs
 * reads in proportion to the projects that need a snapshot:
 *   A. `opsSinceSnapshot >= maxOps`;
 *   B. `opsSinceSnapshot > 0` and `lastSnapshotAt` older than `maxHours`;
 *   C. never snapshotted: Firestore cannot query a missing `lastSnapshotAt`, so a cursor over
 *      `updatedAt` (workerState/snapshotScan) looks at each project updated since the last run
 *      once, and the cursor never passes a due project that was not snapshotted.
 * Up to `batchSize` projects a run; one project's failure is logged and the run goes on.
 */
export interface SnapshotOptions {
  maxOps?: number;
  maxHours?: number;
  batchSize?: number;
  /** Snapshot just this project (if due, or always with `force`). */
  projectId?: string;
  force?: boolean;
}

export interface SnapshotReport {
  candidates: number;
  created: { projectId: string; snapshotId: string; opIndex: number; elementCount: number; partCount: number; pruned: number }[];
  skipped: { projectId: string; reason: string }[];
  failed: { projectId: string; error: string }[];
  durationMs: number;
}

const SCAN_DOC = "snapshotScan";
const SCAN_PAGE = 500;

export function dueByOpsQuery(db: Firestore, maxOps: number, limit: number) {
  return db.collection(COLLECTIONS.canvasProjects).where("opsSinceSnapshot", ">=", maxOps).limit(limit);
}

export function dueByAgeQuery(db: Firestore, cutoff: Timestamp, limit: number) {
  return db.collection(COLLECTIONS.canvasProjects).where("opsSinceSnapshot", ">", 0).where("lastSnapshotAt", "<", cutoff).limit(limit);
}

export function updatedSinceQuery(db: Firestore, cursor: { updatedAt: Timestamp; projectId: string } | undefined, limit: number) {
  const q = db.collection(COLLECTIONS.canvasProjects).orderBy("updatedAt").orderBy(FieldPath.documentId()).limit(limit);
  return cursor ? q.startAfter(cursor.updatedAt, cursor.projectId) : q;
}

export async function processSnapshots(deps: WorkerDeps, options: SnapshotOptions = {}): Promise<SnapshotReport> {
  const { db, clock, config } = deps;
  const logger = deps.logger.child({ worker: "snapshots" });
  const maxOps = options.maxOps ?? config.SNAPSHOT_MAX_OPS;
  const maxHours = options.maxHours ?? config.SNAPSHOT_MAX_HOURS;
  const batchSize = options.batchSize ?? config.SNAPSHOT_BATCH_SIZE;
  const started = clock.now();
  const report: SnapshotReport = { candidates: 0, created: [], skipped: [], failed: [], durationMs: 0 };

  const snapshotOne = async (projectId: string): Promise<boolean> => {
    try {
      const result = await snapshotProject(db, projectId, clock.now());
      if (result.status === "skipped") {
        report.skipped.push({ projectId, reason: result.reason });
        return true;
      }
      const pruned = await pruneSnapshots(db, projectId, config.SNAPSHOT_KEEP);
      const { status: _s, covered, ...created } = result;
      report.created.push({ projectId, ...created, pruned });
      logger.info("snapshot.created", { projectId, ...created, covered, pruned });
      return true;
    } catch (error) {
      report.failed.push({ projectId, error: errorMessage(error) });
      logger.error("snapshot.failed", { projectId, error: errorMessage(error) });
      return false;
    }
  };

  if (options.projectId) {
    const project = await db.collection(COLLECTIONS.canvasProjects).doc(options.projectId).get();
    report.candidates = 1;
    if (!project.exists) report.skipped.push({ projectId: options.projectId, reason: "missing" });
    else if (!options.force && !needsSnapshot(project.data()!, started, maxOps, maxHours)) report.skipped.push({ projectId: options.projectId, reason: "not-due" });
    else await snapshotOne(options.projectId);
    return finish();
  }

  const cutoff = Timestamp.fromMillis(started - maxHours * 3600_000);
  const [byOps, byAge] = await Promise.all([dueByOpsQuery(db, maxOps, batchSize).get(), dueByAgeQuery(db, cutoff, batchSize).get()]);
  const due = new Map<string, QueryDocumentSnapshot>();
  for (const doc of [...byOps.docs, ...byAge.docs]) due.set(doc.id, doc);

  const scanRef = db.collection(COLLECTIONS.workerState).doc(SCAN_DOC);
  const cursor = (await scanRef.get()).data() as { updatedAt: Timestamp; projectId: string } | undefined;
  const scanned = (await updatedSinceQuery(db, cursor, SCAN_PAGE).get()).docs;
  const neverSnapshotted = scanned.filter((d) => d.get("lastSnapshotAt") === undefined && needsSnapshot(d.data(), started, maxOps, maxHours));
  for (const doc of neverSnapshotted) due.set(doc.id, doc);

  const chosen = [...due.keys()].slice(0, batchSize);
  report.candidates = chosen.length;
  const succeeded = new Set<string>();
  for (const projectId of chosen) if (await snapshotOne(projectId)) succeeded.add(projectId);

  // Move the cursor up to, not past, the first never-snapshotted project still due.
  const firstLeft = scanned.findIndex((d) => neverSnapshotted.includes(d) && !succeeded.has(d.id));
  const last = firstLeft === -1 ? scanned[scanned.length - 1] : scanned[firstLeft - 1];
  if (last && last.get("updatedAt") instanceof Timestamp) await scanRef.set({ updatedAt: last.get("updatedAt"), projectId: last.id });
  return finish();

  function finish(): SnapshotReport {
    report.durationMs = clock.now() - started;
    logger.info("snapshots.completed", { candidates: report.candidates, created: report.created.length, skipped: report.skipped.length, failed: report.failed.length, durationMs: report.durationMs });
    return report;
  }
}
