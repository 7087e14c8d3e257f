import { FieldValue, Timestamp, type Firestore } from "firebase-admin/firestore";

/** The app's side of a canvas project: each op, its element change and the counters in one transaction. */
export type OpInput = { type: "create" | "update" | "delete"; elementId: string; data?: Record<string, unknown> };

export async function createProject(db: Firestore, projectId: string, over: Record<string, unknown> = {}) {
  await db.doc(`canvasProjects/${projectId}`).set({ ownerUid: "owner", opIndex: -1, opsSinceSnapshot: 0, updatedAt: Timestamp.now(), ...over });
}

export async function appendOp(db: Firestore, projectId: string, op: OpInput): Promise<number> {
  const projectRef = db.doc(`canvasProjects/${projectId}`);
  return db.runTransaction(async (tx) => {
    const project = await tx.get(projectRef);
    const elementRef = projectRef.collection("elements").doc(op.elementId);
    const element = op.type === "update" ? await tx.get(elementRef) : undefined;
    const index = ((project.get("opIndex") as number | undefined) ?? -1) + 1;
    tx.set(projectRef.collection("ops").doc(String(index).padStart(8, "0")), { index, ...op, createdAt: Timestamp.now() });
    if (op.type === "create") tx.set(elementRef, op.data ?? {});
    else if (op.type === "delete") tx.delete(elementRef);
    else if (element?.exists) tx.update(elementRef, op.data ?? {});
    else tx.set(elementRef, op.data ?? {});
    tx.update(projectRef, { opIndex: index, opsSinceSnapshot: FieldValue.increment(1), updatedAt: Timestamp.now() });
    return index;
  });
}

export async function elementsOf(db: Firestore, projectId: string): Promise<Record<string, Record<string, unknown>>> {
  const snap = await db.collection(`canvasProjects/${projectId}/elements`).get();
  return Object.fromEntries(snap.docs.map((d) => [d.id, d.data()]));
}

/** A small deterministic PRNG, so a failing property test can be replayed from its seed. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
