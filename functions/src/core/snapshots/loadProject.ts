import type { Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { PermanentError } from "../errors";
import { createLogger, type Logger } from "../logger";
import { readProjectView } from "./due";
import { isDocumentId, isMap, replayOps, type Elements, type Replay } from "./ops";
import { projectRefOf, readProjectState, SNAPSHOT_FORMAT_VERSION } from "./snapshotProject";

/**
 * The current state of a canvas project: `{ opIndex, elements }` (elementId → element), from its
 * latest snapshot plus the ops after it, replayed by the op definition (ops.ts). When there is no
 * snapshot it reads the elements collection, which is always current; it does the same, and logs
 * `loadProject.fallback` with the reason at WARNING, when the snapshot does not add up (missing
 * parts, a gap in the ops, ops that stop before the project's opIndex) or an op is outside the
 * definition. So the result equals what the elements collection holds for anything a client can
 * write (firestore.rules make each op match its element change); for the server's writes, as long
 * as each op records the change its batch made (README "What the rules check").
 * Throws when the project does not exist or `projectId` is not a document id.
 */
export interface LoadedProject {
  opIndex: number;
  elements: Elements;
}

const defaultLogger = createLogger({ fields: { component: "loadProject" } });

export async function loadProject(db: Firestore, projectId: string, options: { logger?: Logger } = {}): Promise<LoadedProject> {
  const { opIndex, elements } = await readProject(db, projectId, options.logger ?? defaultLogger);
  return { opIndex, elements };
}

export function opsAfterQuery(db: Firestore, projectId: string, opIndex: number) {
  return projectRefOf(db, projectId).collection(COLLECTIONS.ops).where("index", ">", opIndex).orderBy("index");
}

/** loadProject, saying where the state came from (tests check that the snapshot path was taken). */
export async function readProject(
  db: Firestore,
  projectId: string,
  logger: Logger,
): Promise<LoadedProject & { source: "snapshot" | "elements" }> {
  if (!isDocumentId(projectId)) throw new PermanentError(`projectId must be a document id, got ${JSON.stringify(projectId)}`, "projectId");
  const projectRef = projectRefOf(db, projectId);
  const project = await projectRef.get();
  if (!project.exists) throw new Error(`canvas project ${projectId} does not exist`);
  const snapshotId: unknown = project.get("latestSnapshotId");
  if (snapshotId !== undefined && snapshotId !== null) {
    const projectOpIndex = readProjectView(project.data()!).opIndex ?? -1;
    const replay = isDocumentId(snapshotId)
      ? await fromSnapshot(db, projectId, snapshotId, projectOpIndex)
      : { ok: false as const, reason: "latestSnapshotId is not a document id" };
    if (replay.ok) return { source: "snapshot", opIndex: replay.opIndex, elements: replay.elements };
    logger.warn("loadProject.fallback", { projectId, snapshotId, reason: replay.reason });
  }
  const state = await readProjectState(db, projectRef);
  return { source: "elements", opIndex: state.opIndex ?? -1, elements: state.elements };
}

async function fromSnapshot(db: Firestore, projectId: string, snapshotId: string, projectOpIndex: number): Promise<Replay> {
  const snapshotRef = projectRefOf(db, projectId).collection(COLLECTIONS.snapshots).doc(snapshotId);
  const [snapshot, parts] = await Promise.all([snapshotRef.get(), snapshotRef.collection(COLLECTIONS.snapshotParts).get()]);
  if (!snapshot.exists) return { ok: false, reason: `snapshot ${snapshotId} does not exist` };
  const { opIndex, partCount, version } = snapshot.data()!;
  if (version !== SNAPSHOT_FORMAT_VERSION)
    return { ok: false, reason: `snapshot version ${JSON.stringify(version)} is not ${SNAPSHOT_FORMAT_VERSION}` };
  if (!Number.isSafeInteger(opIndex) || opIndex < 0 || !Number.isSafeInteger(partCount) || partCount < 0)
    return { ok: false, reason: "snapshot opIndex or partCount is not a valid integer" };
  const base =
    partCount === 0
      ? [snapshot.get("elements")]
      : parts.docs.filter((p) => p.get("index") === Number(p.id) && Number(p.id) < partCount).map((p) => p.get("elements"));
  if (base.length !== Math.max(partCount, 1))
    return { ok: false, reason: `snapshot ${snapshotId} has ${base.length} of its ${partCount} parts` };
  if (!base.every((elements) => isMap(elements) && Object.values(elements).every(isMap)))
    return { ok: false, reason: `snapshot ${snapshotId} holds something that is not a map of elements` };
  const ops = await opsAfterQuery(db, projectId, opIndex).get();
  const replay = replayOps(
    Object.assign({}, ...base) as Elements,
    opIndex,
    ops.docs.map((d) => ({ id: d.id, data: d.data() })),
  );
  if (!replay.ok) return replay;
  // The app moves opIndex in the batch that appends the op: ops that stop short of it are missing one.
  if (replay.opIndex < projectOpIndex)
    return { ok: false, reason: `the ops end at index ${replay.opIndex}, the project's opIndex is ${projectOpIndex}` };
  return replay;
}
