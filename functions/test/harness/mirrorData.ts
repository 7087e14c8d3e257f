import { Timestamp, type Firestore } from "firebase-admin/firestore";

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

let seq = 0;
/** Enqueues a task as the app would; `createdAtMs` orders tasks for one doc. */
export async function enqueue(db: Firestore, task: Record<string, unknown>, createdAtMs = Date.now() + seq++): Promise<string> {
  const ref = db.collection("mirrorQueue").doc();
  await ref.set({ createdAt: Timestamp.fromMillis(createdAtMs), ...task });
  return ref.id;
}

export async function taskDoc(db: Firestore, taskId: string) {
  return (await db.collection("mirrorQueue").doc(taskId).get()).data()!;
}

export async function mirrorDoc(db: Firestore, historyId: string) {
  return (await db.collection("publicGenerations").doc(historyId).get()).data();
}
