import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { FieldValue, Timestamp, type Firestore } from "firebase-admin/firestore";

/** Realistic demo data for `npm run local` (and the benchmarks' shapes): every worker has work. */
const DAY = 86_400_000;

export async function seedDemoData(db: Firestore, s3: S3Client, bucket: string) {
  const now = Date.now();
  const users = ["ana", "ben", "chloe"];
  for (const uid of users)
    await db
      .doc(`users/${uid}`)
      .set({ username: uid, displayName: uid[0].toUpperCase() + uid.slice(1), photoURL: `https://example.com/${uid}.png` });

  let publicItems = 0;
  const tasks: Record<string, unknown>[] = [];
  const batch = db.batch();
  for (let i = 0; i < 30; i++) {
    const uid = users[i % users.length];
    const historyId = `demo-${i}`;
    const isPublic = i % 5 !== 0;
    if (isPublic) publicItems++;
    batch.set(db.doc(`generationHistory/${uid}/items/${historyId}`), {
      uid,
      prompt: `a demo image #${i}`,
      model: "flux",
      generationType: "text-to-image",
      images: [{ id: `${historyId}-0`, url: `https://cdn.example.com/${historyId}.png`, storagePath: `u/${uid}/${historyId}.png` }],
      videos: [],
      isPublic,
      isDeleted: false,
      aestheticScore: 4 + (i % 6),
      createdAt: Timestamp.fromMillis(now - DAY),
      updatedAt: Timestamp.fromMillis(now - DAY),
    });
    tasks.push({ op: "upsert", uid, historyId });
  }
  await batch.commit();
  // The app changes the item first, then enqueues: every task reads the item, in whatever order tasks run.
  await db.doc("generationHistory/ben/items/demo-1").update({ prompt: "a demo image, edited", updatedAt: Timestamp.fromMillis(now) });
  tasks.push({ op: "update", uid: "ben", historyId: "demo-1", updates: { prompt: "a demo image, edited" } });
  await db.doc("generationHistory/chloe/items/demo-2").update({ isDeleted: true, updatedAt: Timestamp.fromMillis(now) });
  tasks.push({ op: "remove", uid: "chloe", historyId: "demo-2" });
  tasks.push({ op: "teleport", uid: "ana", historyId: "demo-3" }); // malformed: fails alone, never retried
  // As the app enqueues: status "pending" and a createdAt (the demo spaces them 1 ms apart to fix their order).
  for (const [i, task] of tasks.entries())
    await db.collection("mirrorQueue").add({ ...task, status: "pending", createdAt: Timestamp.fromMillis(now + i) });

  // Canvas projects: one past the op threshold, one never snapshotted, one idle.
  const projects: [string, number][] = [
    ["busy-board", 120],
    ["new-sketch", 5],
    ["idle-board", 0],
  ];
  for (const [projectId, ops] of projects) {
    const ref = db.doc(`canvasProjects/${projectId}`);
    await ref.set({ ownerUid: "ana", opIndex: -1, opsSinceSnapshot: 0, updatedAt: Timestamp.now() });
    for (let start = 0; start < ops; start += 100) {
      const b = db.batch();
      for (let index = start; index < Math.min(ops, start + 100); index++) {
        const elementId = `shape-${index % 40}`;
        b.set(ref.collection("ops").doc(String(index)), {
          index,
          type: "create",
          elementId,
          data: { x: index, y: index * 2 },
          createdAt: Timestamp.now(),
        });
        b.set(ref.collection("elements").doc(elementId), { x: index, y: index * 2 });
      }
      b.update(ref, {
        opIndex: Math.min(ops, start + 100) - 1,
        opsSinceSnapshot: FieldValue.increment(Math.min(ops, start + 100) - start),
        updatedAt: Timestamp.now(),
      });
      await b.commit();
    }
  }

  // Media: old garbage (with objects), old but referenced, young and unreferenced.
  const media: [string, number, number][] = [
    ["old-unused-1", 45, 0],
    ["old-unused-2", 60, 0],
    ["old-unused-3", 90, 0],
    ["old-referenced", 90, 2],
    ["young-unused", 3, 0],
  ];
  for (const [id, ageDays, refs] of media) {
    const storageKey = `canvas/ana/${id}.png`;
    const body = Buffer.alloc(50_000 + ageDays * 100, 7);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: storageKey, Body: body, ContentType: "image/png" }));
    await db.doc(`canvasMedia/${id}`).set({
      ownerUid: "ana",
      storageKey,
      referencedByCount: refs,
      createdAt: Timestamp.fromMillis(now - ageDays * DAY),
      size: body.length,
      contentType: "image/png",
    });
  }
  return {
    users: users.length,
    historyItems: 30,
    publicItems,
    tasks: tasks.length,
    projects: projects.length,
    media: media.length,
    garbage: 3,
  };
}
