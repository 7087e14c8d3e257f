import type { Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { readProjectState } from "./snapshotProject";
import { applyOps, type Elements, type Op } from "./rules";

/**
 * The current state of a canvas project: its latest snapshot plus the ops after it, applied in
 * order. With no snapshot, or a snapshot that does not add up (missing parts, a gap in the ops),
 * it reads the elements collection instead, which is always current.
 */
export interface LoadedProject {
  opIndex: number;
  elements: Elements;
}

export function opsAfterQuery(db: Firestore, projectId: string, opIndex: number) {
  return db.collection(COLLECTIONS.canvasProjects).doc(projectId).collection(COLLECTIONS.ops).where("index", ">", opIndex).orderBy("index");
}

export async function loadProject(db: Firestore, projectId: string): Promise<LoadedProject> {
  const projectRef = db.collection(COLLECTIONS.canvasProjects).doc(projectId);
  const project = await projectRef.get();
  if (!project.exists) throw new Error(`canvas project ${projectId} does not exist`);
  const snapshotId = project.get("latestSnapshotId");
  const fromSnapshot = typeof snapshotId === "string" ? await fromLatestSnapshot(db, projectId, snapshotId) : undefined;
  if (fromSnapshot) return fromSnapshot;
  const state = await readProjectState(db, projectRef);
  return { opIndex: state.opIndex, elements: state.elements };
}

async function fromLatestSnapshot(db: Firestore, projectId: string, snapshotId: string): Promise<LoadedProject | undefined> {
  const projectRef = db.collection(COLLECTIONS.canvasProjects).doc(projectId);
  const snapshotRef = projectRef.collection(COLLECTIONS.snapshots).doc(snapshotId);
  const [snapshot, parts] = await Promise.all([snapshotRef.get(), snapshotRef.collection(COLLECTIONS.snapshotParts).orderBy("index").get()]);
  if (!snapshot.exists) return undefined;
  const base = snapshot.get("opIndex") as number;
  const partCount = (snapshot.get("partCount") as number) ?? 0;
  let elements: Elements;
  if (partCount === 0) {
    elements = (snapshot.get("elements") as Elements) ?? {};
  } else {
    const found = parts.docs.filter((p) => (p.get("index") as number) < partCount);
    if (found.length !== partCount) return undefined;
    elements = Object.assign({}, ...found.map((p) => p.get("elements") as Elements));
  }
  const opsSnap = await opsAfterQuery(db, projectId, base).get();
  const ops = opsSnap.docs.map((d) => d.data() as Op);
  // Ops must follow the snapshot without a gap; otherwise this snapshot cannot be trusted.
  if (ops.some((op, i) => op.index !== base + 1 + i)) return undefined;
  return { opIndex: base + ops.length, elements: applyOps(elements, ops) };
}
