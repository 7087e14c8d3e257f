import { Timestamp, type DocumentReference, type DocumentSnapshot, type Firestore } from "firebase-admin/firestore";

/** Builders for the app's side of the mirror: history items, profiles, tasks. */
export function historyItem(uid: string, historyId: string, over: Record<string, unknown> = {}) {
  return {
    uid,
    prompt: `prompt ${historyId}`,
    model: "flux",
    generationType: "text-to-image",
    images: [{ id: `${historyId}-img0`, url: `https://cdn.example/${historyId}/0.png`, storagePath: `u/${uid}/${historyId}/0.png` }],
    videos: [],
    isPublic: true,
    isDeleted: false,
    aestheticScore: 7.5,
    createdAt: Timestamp.fromMillis(1_700_000_000_000),
    updatedAt: Timestamp.fromMillis(1_700_000_000_000),
    ...over,
  };
}

export async function putHistoryItem(db: Firestore, uid: string, historyId: string, over: Record<string, unknown> = {}) {
  const data = historyItem(uid, historyId, over);
  await db.doc(`generationHistory/${uid}/items/${historyId}`).set(data);
  return data;
}

export async function putUser(db: Firestore, uid: string, displayName = uid.toUpperCase()) {
  await db.doc(`users/${uid}`).set({ username: uid, displayName, photoURL: `https://p.example/${uid}.png` });
}

let seq = 0;
/** Enqueues a task as the app does (`status: "pending"` and `createdAt`); `createdAtMs` orders tasks for one doc. */
export async function enqueue(db: Firestore, task: Record<string, unknown>, createdAtMs = Date.now() + seq++): Promise<string> {
  const ref = db.collection("mirrorQueue").doc();
  await ref.set({ createdAt: Timestamp.fromMillis(createdAtMs), status: "pending", ...task });
  return ref.id;
}

/** A dead letter (5 failed attempts) for item `u/{historyId}` whose last error is `lastError`. */
export async function enqueueDeadLetter(db: Firestore, historyId: string, lastError: string): Promise<string> {
  return enqueue(db, {
    op: "upsert",
    uid: "u",
    historyId,
    status: "failed",
    deadLetter: true,
    attempts: 5,
    lastError,
    failedAt: Timestamp.now(),
  });
}

/** Writes a task doc exactly as given (no createdAt added), under `taskId` or a new id. */
export async function enqueueRaw(db: Firestore, data: Record<string, unknown>, taskId?: string): Promise<string> {
  const ref = taskId ? db.collection("mirrorQueue").doc(taskId) : db.collection("mirrorQueue").doc();
  await ref.set(data);
  return ref.id;
}

export async function taskDoc(db: Firestore, taskId: string) {
  return (await db.collection("mirrorQueue").doc(taskId).get()).data()!;
}

export async function taskSnapshot(db: Firestore, taskId: string): Promise<DocumentSnapshot> {
  return db.collection("mirrorQueue").doc(taskId).get();
}

export async function mirrorDoc(db: Firestore, historyId: string) {
  return (await db.collection("publicGenerations").doc(historyId).get()).data();
}

export async function signupCacheIds(db: Firestore): Promise<string[]> {
  const images = (await db.doc("signupImageCache/current").get()).get("images");
  return Array.isArray(images) ? images.map((i: { historyId: string }) => i.historyId) : [];
}

/** Sets `doc` on `ref`; false when Firestore refuses it as too large (INVALID_ARGUMENT). */
async function setIfFits(ref: DocumentReference, doc: Record<string, unknown>): Promise<boolean> {
  try {
    await ref.set(doc);
    return true;
  } catch (error) {
    if ((error as { code?: number }).code !== 3) throw error;
    return false;
  }
}

/**
 * Writes a task doc within a few dozen bytes of Firestore's 1 MiB limit, too large to take any of
 * the workers' fields. How close a doc can come depends on its full name (the project id counts),
 * so the padding is found by trying: the first size the emulator accepts.
 */
export async function enqueueNearLimit(db: Firestore, uid: string, historyId: string): Promise<string> {
  const ref = db.collection("mirrorQueue").doc();
  const task = { op: "upsert", uid, historyId, status: "pending", createdAt: Timestamp.now() };
  for (let pad = 60; pad < 1000; pad += 20)
    if (await setIfFits(ref, { ...task, snapshot: { blob: "x".repeat(1_048_576 - pad) } })) return ref.id;
  throw new Error("no near-limit size was accepted");
}

/**
 * Writes `data` under a new task id with a `padding` field that brings the doc to the largest size
 * the emulator accepts (found by bisection, to the byte): no field at all can be added to it.
 */
export async function enqueueAtLimit(db: Firestore, data: Record<string, unknown>): Promise<string> {
  const ref = db.collection("mirrorQueue").doc();
  const fits = (pad: number) => setIfFits(ref, { ...data, padding: "x".repeat(1_048_576 - pad) });
  let [low, high] = [0, 4096]; // `high` fits, `low` does not
  if (!(await fits(high))) throw new Error("the data alone is too large");
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (await fits(mid)) high = mid;
    else low = mid;
  }
  await fits(high);
  return ref.id;
}
