import { FieldValue, Timestamp, type DocumentReference, type Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { MAX_INLINE_BYTES, firestoreSize, snapshotIdFor, splitElements, type Elements } from "./rules";

/**
 * Takes one snapshot of a project.
 *  - Consistency: the project's `opIndex` and its elements are read in one read-only transaction,
 *    i.e. at one point in time, so the snapshot is exactly the state after op `opIndex` (the app
 *    writes each op, its element change and the project's counters in one batch).
 *  - Size: elements that would not fit one doc go to `parts/{n}` sub-docs, written first; the
 *    snapshot header, which makes them visible, is written last.
 *  - Exactly once: the id is derived from `opIndex`, and the header is *created* in the same
 *    transaction that moves the project's snapshot fields and decrements `opsSinceSnapshot` by the
 *    ops it covers. A second run over the same state fails the create and changes nothing; a run
 *    that lost to a newer snapshot changes nothing either.
 */
export const SNAPSHOT_FORMAT_VERSION = 1;
const PARTS_PER_BATCH = 8; // 8 × 0.9 MB stays under the 10 MiB commit limit

export type SnapshotResult =
  | { status: "created"; snapshotId: string; opIndex: number; elementCount: number; partCount: number; covered: number }
  | { status: "skipped"; reason: "no-ops" | "already-snapshotted" | "newer-snapshot-exists" | "missing" };

export async function readProjectState(db: Firestore, project: DocumentReference): Promise<{ exists: boolean; opIndex: number; elements: Elements }> {
  return db.runTransaction(
    async (tx) => {
      const [doc, elements] = await Promise.all([tx.get(project), tx.get(project.collection(COLLECTIONS.elements))]);
      const opIndex = typeof doc.get("opIndex") === "number" ? (doc.get("opIndex") as number) : -1;
      return { exists: doc.exists, opIndex, elements: Object.fromEntries(elements.docs.map((d) => [d.id, d.data()])) };
    },
    { readOnly: true },
  );
}

export async function snapshotProject(db: Firestore, projectId: string, nowMs: number): Promise<SnapshotResult> {
  const projectRef = db.collection(COLLECTIONS.canvasProjects).doc(projectId);
  const state = await readProjectState(db, projectRef);
  if (!state.exists) return { status: "skipped", reason: "missing" };
  if (state.opIndex < 0) return { status: "skipped", reason: "no-ops" };

  const snapshotId = snapshotIdFor(state.opIndex);
  const snapshotRef = projectRef.collection(COLLECTIONS.snapshots).doc(snapshotId);
  const elementCount = Object.keys(state.elements).length;
  const inline = firestoreSize(state.elements) <= MAX_INLINE_BYTES;
  const parts = inline ? [] : splitElements(state.elements);

  // Parts are invisible until the header exists; a crash here leaves parts that the same state's
  // next attempt overwrites (same id) and retention removes with their snapshot.
  for (let i = 0; i < parts.length; i += PARTS_PER_BATCH) {
    const batch = db.batch();
    parts.slice(i, i + PARTS_PER_BATCH).forEach((elements, j) => batch.set(snapshotRef.collection(COLLECTIONS.snapshotParts).doc(String(i + j)), { index: i + j, elements }));
    await batch.commit();
  }

  return db.runTransaction(async (tx): Promise<SnapshotResult> => {
    const [project, existing] = await Promise.all([tx.get(projectRef), tx.get(snapshotRef)]);
    if (existing.exists) return { status: "skipped", reason: "already-snapshotted" };
    const last = typeof project.get("lastSnapshotOpIndex") === "number" ? (project.get("lastSnapshotOpIndex") as number) : -1;
    if (last >= state.opIndex) return { status: "skipped", reason: "newer-snapshot-exists" };
    const covered = state.opIndex - last;
    const createdAt = Timestamp.fromMillis(nowMs);
    tx.create(snapshotRef, {
      opIndex: state.opIndex,
      elementCount,
      version: SNAPSHOT_FORMAT_VERSION,
      createdAt,
      partCount: parts.length,
      ...(inline ? { elements: state.elements } : {}),
    });
    tx.update(projectRef, {
      lastSnapshotOpIndex: state.opIndex,
      lastSnapshotAt: createdAt,
      latestSnapshotId: snapshotId,
      opsSinceSnapshot: FieldValue.increment(-covered),
    });
    return { status: "created", snapshotId, opIndex: state.opIndex, elementCount, partCount: parts.length, covered };
  });
}

export function snapshotsNewestFirstQuery(db: Firestore, projectId: string) {
  return db.collection(COLLECTIONS.canvasProjects).doc(projectId).collection(COLLECTIONS.snapshots).orderBy("opIndex", "desc").select();
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
