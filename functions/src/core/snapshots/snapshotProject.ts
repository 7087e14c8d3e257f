import { Timestamp, type DocumentReference, type Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { errorMessage, isRejectedByFirestore, PermanentError } from "../errors";
import { CHECK_AFTER, readProjectView } from "./due";
import { failureRefOf } from "./failures";
import type { Elements } from "./ops";
import { checkSnapshottable, firestoreSize, MAX_INLINE_BYTES, splitElements } from "./sizes";

/**
 * Takes one snapshot of a project.
 *  - Consistency: the project's `opIndex`, its elements and the first op past `opIndex` are read
 *    in one read-only transaction, i.e. at one point in time, so the snapshot is exactly the state
 *    after op `opIndex` (the app writes each op, its element change and the project's counters in
 *    one batch). An op past `opIndex` means the counters lie: the project is refused.
 *  - Size: elements that would not fit one doc go to `parts/{n}` sub-docs, written first; the
 *    snapshot header, which makes them visible, is written last.
 *  - Deletion: each parts write is a transaction that finds the project still there, so parts
 *    committed before a deletion are seen by the deletion's cleanup, and none are written after it.
 *    Parts whose header is not created (the project went, a newer snapshot won, a failure) are
 *    deleted again, unless another run created the same header.
 *  - Exactly once: the id is derived from `opIndex`, and the header is *created* in the same
 *    transaction that moves the project's snapshot fields and sets `opsSinceSnapshot` to the ops
 *    that arrived after the snapshot's state. A second run over the same state fails the create and
 *    changes nothing; a run that lost to a newer snapshot changes nothing either.
 *  - The project fields it sets keep their size once the project has had a snapshot (the id has a
 *    fixed width), so even a project doc at Firestore's size limit takes its next snapshot.
 */
export const SNAPSHOT_FORMAT_VERSION = 1;
/** 4 × 0.9 MB per commit: under 4 MiB, the request size the emulator takes (a larger commit hangs there; production allows 10 MiB). */
const PARTS_PER_WRITE = 4;

export type SnapshotResult =
  | { status: "created"; snapshotId: string; opIndex: number; elementCount: number; partCount: number; covered: number }
  | { status: "skipped"; reason: "no-ops" | "already-snapshotted" | "newer-snapshot-exists" | "missing" };

type Skipped = Extract<SnapshotResult, { status: "skipped" }>;
const skipped = (reason: Skipped["reason"]): Skipped => ({ status: "skipped", reason });

/** Snapshot ids sort by the op index they hold, and the same state always gets the same id. */
export function snapshotIdFor(opIndex: number): string {
  return `op-${String(opIndex + 1).padStart(12, "0")}`;
}

export const projectRefOf = (db: Firestore, projectId: string) => db.collection(COLLECTIONS.canvasProjects).doc(projectId);

/**
 * The elements, the project's opIndex (absent: -1; not an integer: null) and the first op past
 * that opIndex, at one point in time.
 */
export async function readProjectState(db: Firestore, project: DocumentReference) {
  return db.runTransaction(
    async (tx) => {
      const doc = await tx.get(project);
      const opIndex = doc.exists ? readProjectView(doc.data()!).opIndex : -1;
      const [elements, past] = await Promise.all([
        tx.get(project.collection(COLLECTIONS.elements)),
        opIndex === null ? undefined : tx.get(project.collection(COLLECTIONS.ops).where("index", ">", opIndex).orderBy("index").limit(1)),
      ]);
      const firstPast = past?.docs[0];
      return {
        exists: doc.exists,
        opIndex,
        elements: Object.fromEntries(elements.docs.map((d) => [d.id, d.data()])) as Elements,
        opPastIndex: firstPast ? { id: firstPast.id, index: firstPast.get("index") as number } : undefined,
      };
    },
    { readOnly: true },
  );
}

export async function snapshotProject(db: Firestore, projectId: string, nowMs: number): Promise<SnapshotResult> {
  const projectRef = projectRefOf(db, projectId);
  const state = await readProjectState(db, projectRef);
  if (!state.exists) return skipped("missing");
  if (state.opIndex === null) throw new PermanentError("opIndex must be an integer >= -1", "opIndex");
  if (state.opPastIndex) {
    const { id, index } = state.opPastIndex;
    throw new PermanentError(
      `op ${id} has index ${index}, past the project's opIndex ${state.opIndex}: the app must move opIndex with each op`,
      "opIndex",
    );
  }
  if (state.opIndex < 0) return skipped("no-ops");

  checkSnapshottable(state.elements);
  const inline = firestoreSize(state.elements) <= MAX_INLINE_BYTES;
  const parts = inline ? [] : splitElements(state.elements);
  const snapshotRef = projectRef.collection(COLLECTIONS.snapshots).doc(snapshotIdFor(state.opIndex));
  try {
    const header = { opIndex: state.opIndex, elements: state.elements, partCount: parts.length };
    const result =
      (await writeParts(db, projectRef, snapshotRef, parts)) ?? (await commitHeader(db, projectRef, snapshotRef, header, nowMs));
    if (result.status === "skipped") await deleteUnusedParts(db, snapshotRef, parts.length);
    return result;
  } catch (error) {
    await deleteUnusedParts(db, snapshotRef, parts.length).catch(() => undefined);
    if (isRejectedByFirestore(error))
      throw new PermanentError(`Firestore refused the snapshot: ${errorMessage(error)}`, undefined, { cause: error });
    throw error;
  }
}

/** Writes the parts, each write conditioned on the project still existing; "missing" when it went. */
async function writeParts(
  db: Firestore,
  projectRef: DocumentReference,
  snapshotRef: DocumentReference,
  parts: Elements[],
): Promise<Skipped | undefined> {
  for (let i = 0; i < parts.length; i += PARTS_PER_WRITE) {
    const gone = await db.runTransaction(async (tx) => {
      if (!(await tx.get(projectRef)).exists) return true;
      parts
        .slice(i, i + PARTS_PER_WRITE)
        .forEach((elements, j) => tx.set(snapshotRef.collection(COLLECTIONS.snapshotParts).doc(String(i + j)), { index: i + j, elements }));
      return false;
    });
    if (gone) return skipped("missing");
  }
  return undefined;
}

async function commitHeader(
  db: Firestore,
  projectRef: DocumentReference,
  snapshotRef: DocumentReference,
  { opIndex, elements, partCount }: { opIndex: number; elements: Elements; partCount: number },
  nowMs: number,
): Promise<SnapshotResult> {
  return db.runTransaction(async (tx): Promise<SnapshotResult> => {
    const [project, existing] = await Promise.all([tx.get(projectRef), tx.get(snapshotRef)]);
    if (!project.exists) return skipped("missing");
    if (existing.exists) return skipped("already-snapshotted");
    const now = readProjectView(project.data()!);
    if (now.lastSnapshotOpIndex >= opIndex) return skipped("newer-snapshot-exists");
    const createdAt = Timestamp.fromMillis(nowMs);
    const elementCount = Object.keys(elements).length;
    tx.create(snapshotRef, {
      opIndex,
      elementCount,
      version: SNAPSHOT_FORMAT_VERSION,
      createdAt,
      partCount,
      ...(partCount === 0 ? { elements } : {}),
    });
    tx.update(projectRef, {
      lastSnapshotOpIndex: opIndex,
      lastSnapshotAt: createdAt,
      latestSnapshotId: snapshotRef.id,
      // Ops that arrived after the snapshot's state still count; this also repairs a counter the owner set wrong.
      opsSinceSnapshot: Math.max(0, (now.opIndex ?? opIndex) - opIndex),
      [CHECK_AFTER]: createdAt,
    });
    tx.delete(failureRefOf(db, projectRef.id));
    return { status: "created", snapshotId: snapshotRef.id, opIndex, elementCount, partCount, covered: opIndex - now.lastSnapshotOpIndex };
  });
}

/** Deletes parts this run wrote, unless their header exists (another run created the same snapshot). */
async function deleteUnusedParts(db: Firestore, snapshotRef: DocumentReference, partCount: number): Promise<void> {
  for (let i = 0; i < partCount; i += 500) {
    await db.runTransaction(async (tx) => {
      if ((await tx.get(snapshotRef)).exists) return;
      for (let n = i; n < Math.min(partCount, i + 500); n++) tx.delete(snapshotRef.collection(COLLECTIONS.snapshotParts).doc(String(n)));
    });
  }
}

export function snapshotsNewestFirstQuery(db: Firestore, projectId: string) {
  return projectRefOf(db, projectId).collection(COLLECTIONS.snapshots).orderBy("opIndex", "desc").select();
}

/** Keeps the newest `keep` snapshots of a project; deletes the rest with their parts. Returns how many went. */
export async function pruneSnapshots(db: Firestore, projectId: string, keep: number): Promise<number> {
  const all = await snapshotsNewestFirstQuery(db, projectId).get();
  const old = all.docs.slice(keep);
  for (const snap of old) {
    const parts = await snap.ref.collection(COLLECTIONS.snapshotParts).select().get();
    const batch = db.batch();
    // Header first in the same batch: no reader ever sees a header whose parts are gone.
    batch.delete(snap.ref);
    for (const part of parts.docs) batch.delete(part.ref);
    await batch.commit();
  }
  return old.length;
}
