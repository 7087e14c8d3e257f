import { FieldValue, Timestamp, type Firestore } from "firebase-admin/firestore";

/**
 * The app's side of a canvas project, as the README prescribes: each op, its element change and the
 * project's counters in one transaction. The element change is `set()` for a create, `update()` for
 * an update (which fails on a missing element, and then nothing is written) and `delete()`.
 */
export type OpInput = { type: "create" | "update" | "delete"; elementId: string; data?: Record<string, unknown> };

/** An op's id is its index in decimal (README "What the app must maintain"; the rules find a batch's op by it). */
export const opId = (index: number) => String(index);

export async function createProject(db: Firestore, projectId: string, over: Record<string, unknown> = {}) {
  await db
    .doc(`canvasProjects/${projectId}`)
    .set({ ownerUid: "owner", opIndex: -1, opsSinceSnapshot: 0, updatedAt: Timestamp.now(), ...over });
}

export async function appendOp(db: Firestore, projectId: string, op: OpInput): Promise<number> {
  const projectRef = db.doc(`canvasProjects/${projectId}`);
  return db.runTransaction(async (tx) => {
    const project = await tx.get(projectRef);
    const elementRef = projectRef.collection("elements").doc(op.elementId);
    const index = ((project.get("opIndex") as number | undefined) ?? -1) + 1;
    tx.set(projectRef.collection("ops").doc(opId(index)), { index, ...op, createdAt: Timestamp.now() });
    if (op.type === "create") tx.set(elementRef, op.data ?? {});
    else if (op.type === "update") tx.update(elementRef, op.data ?? {});
    else tx.delete(elementRef);
    tx.update(projectRef, { opIndex: index, opsSinceSnapshot: FieldValue.increment(1), updatedAt: Timestamp.now() });
    return index;
  });
}

/** An op doc written as given (any type, any data) with an element change and the counters, in one batch: a writer that does not follow the definition. */
export async function appendRawOp(
  db: Firestore,
  projectId: string,
  op: Record<string, unknown>,
  change: (batch: FirebaseFirestore.WriteBatch, elements: FirebaseFirestore.CollectionReference) => void,
) {
  const projectRef = db.doc(`canvasProjects/${projectId}`);
  const index = (((await projectRef.get()).get("opIndex") as number | undefined) ?? -1) + 1;
  const batch = db.batch();
  batch.set(projectRef.collection("ops").doc(opId(index)), { index, ...op, createdAt: Timestamp.now() });
  change(batch, projectRef.collection("elements"));
  batch.update(projectRef, { opIndex: index, opsSinceSnapshot: FieldValue.increment(1), updatedAt: Timestamp.now() });
  await batch.commit();
  return index;
}

/**
 * A project as the app leaves it after one create op per element (element `e{n}`, op `n`), with
 * `over` written on the project doc: counters that lie, fields of other types, worker fields.
 */
export async function projectAt(
  db: Firestore,
  projectId: string,
  updatedAtMs: number,
  elements: Record<string, unknown>[],
  over: Record<string, unknown> = {},
) {
  const writer = db.bulkWriter();
  const ref = db.doc(`canvasProjects/${projectId}`);
  writer.set(ref, {
    ownerUid: "owner",
    opIndex: elements.length - 1,
    opsSinceSnapshot: elements.length,
    updatedAt: Timestamp.fromMillis(updatedAtMs),
    ...over,
  });
  elements.forEach((data, index) => {
    writer.set(ref.collection("elements").doc(`e${index}`), data);
    writer.set(ref.collection("ops").doc(opId(index)), {
      index,
      type: "create",
      elementId: `e${index}`,
      data,
      createdAt: Timestamp.fromMillis(updatedAtMs),
    });
  });
  await writer.close();
}

export async function elementsOf(db: Firestore, projectId: string): Promise<Record<string, Record<string, unknown>>> {
  const snap = await db.collection(`canvasProjects/${projectId}/elements`).get();
  return Object.fromEntries(snap.docs.map((d) => [d.id, d.data()]));
}

/** Every document left under a project, at any depth (parts under a missing snapshot header too). */
export async function docsUnder(db: Firestore, projectId: string): Promise<string[]> {
  const listed = (await db.doc(`canvasProjects/${projectId}`).listCollections()).map((c) => c.id);
  const groups = new Set([...listed, "elements", "ops", "snapshots", "parts"]);
  const paths: string[] = [];
  for (const group of groups) {
    const all = await db.collectionGroup(group).select().get();
    paths.push(...all.docs.map((d) => d.ref.path).filter((p) => p.startsWith(`canvasProjects/${projectId}/`)));
  }
  return paths.sort();
}

/**
 * Fills a project doc (field `pad`) until `slack` more bytes would pass Firestore's 1 MiB document
 * limit: a doc that takes no new field. Found by writing, so it holds whatever the doc's other fields are.
 */
export async function padToLimit(db: Firestore, projectId: string, slack: number): Promise<void> {
  const ref = db.doc(`canvasProjects/${projectId}`);
  const fits = (bytes: number) =>
    ref.update({ pad: "p".repeat(bytes) }).then(
      () => true,
      () => false,
    );
  let lo = 0;
  let hi = 1_048_576;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await fits(mid)) lo = mid;
    else hi = mid;
  }
  if (!(await fits(lo - slack))) throw new Error(`could not pad ${projectId}`);
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
