/**
 * `node -r countingPreload.js mirrorChild.js naive|floor|trigger`: one of the benchmark's own mirror
 * paths as its own process, against FIRESTORE_EMULATOR_HOST (the delay proxy) and GCLOUD_PROJECT,
 * until the queue is drained or SIGTERM (then it finishes what is in flight and exits 0).
 *
 * - naive: one task at a time, each step its own round trip, no lease, no ordering.
 * - floor: the least work a correct-looking mirror must do, batched: one query for 500 pending
 *   tasks, one getAll of their sources, one commit of their mirror writes and `done` marks.
 * - trigger: each task's `onMirrorQueueTaskCreated` run as deployed: lib/index.js's exported
 *   function called with the CloudEvent Eventarc delivers (the created document, protobuf-encoded),
 *   BENCH_CONCURRENCY events at a time (Cloud Functions' default concurrency per instance, 80).
 */
import { join } from "node:path";
import { initializeApp } from "firebase-admin/app";
import { FieldValue, getFirestore, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { documentCreatedEvent } from "../dev/firestoreEvents";
import { resetCounts } from "./opCounter";

// An app of the benchmark's own: the trigger path's function sets up the default app's Firestore
// as deployed (its settings go in before its first call), so this process must not have used it.
const db = getFirestore(initializeApp({ projectId: process.env.GCLOUD_PROJECT }, "bench"));
let stopping = false;
process.on("SIGTERM", () => {
  stopping = true;
});
const progress = (completed: number) => process.stdout.write(`${JSON.stringify({ message: "bench.completed", completed })}\n`);

const pendingQuery = (limit: number) => db.collection("mirrorQueue").where("status", "==", "pending").orderBy("createdAt").limit(limit);

async function naive(): Promise<void> {
  while (!stopping) {
    const page = await pendingQuery(1).get();
    if (page.empty) return;
    const task = page.docs[0];
    await task.ref.update({ status: "processing" });
    const { op, uid, historyId, updates } = task.data();
    const mirror = db.doc(`publicGenerations/${historyId}`);
    if (op === "remove") await mirror.delete();
    else if (op === "update") await mirror.set(updates, { merge: true });
    else await mirror.set({ ...(await db.doc(`generationHistory/${uid}/items/${historyId}`).get()).data(), uid, historyId });
    await task.ref.update({ status: "done" });
    progress(1);
  }
}

const FLOOR_PAGE = 500;

async function floor(): Promise<void> {
  while (!stopping) {
    const page = await pendingQuery(FLOOR_PAGE).get();
    if (page.empty) return;
    const sources = await db.getAll(...page.docs.map((t) => db.doc(`generationHistory/${t.get("uid")}/items/${t.get("historyId")}`)));
    const batch = db.batch();
    page.docs.forEach((task, i) => {
      const source = sources[i];
      const mirror = db.doc(`publicGenerations/${task.get("historyId")}`);
      if (source.exists && source.get("isPublic") === true && source.get("isDeleted") !== true)
        batch.set(mirror, { ...source.data(), mirroredAt: FieldValue.serverTimestamp() });
      else batch.delete(mirror);
      batch.update(task.ref, { status: "done" });
    });
    await batch.commit();
    progress(page.size);
  }
}

async function trigger(): Promise<void> {
  const projectId = process.env.GCLOUD_PROJECT!;
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 80);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { onMirrorQueueTaskCreated } = require(join(__dirname, "../../lib/index.js"));
  const tasks: QueryDocumentSnapshot[] = (await db.collection("mirrorQueue").orderBy("createdAt").get()).docs;
  const events = tasks.map((snap) => documentCreatedEvent(snap, projectId));
  await new Promise((r) => setTimeout(r, 200)); // the query's status (counted on arrival) comes after its documents
  resetCounts(); // reading the tasks to build their events is the delivery's work, not the function's
  const run = async () => {
    for (let event = events.shift(); event && !stopping; event = events.shift()) {
      await onMirrorQueueTaskCreated(event);
      progress(1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, run));
}

const paths: Record<string, () => Promise<void>> = { naive, floor, trigger };
const path = paths[process.argv[2]];
if (!path) {
  process.stderr.write(`usage: mirrorChild.js ${Object.keys(paths).join("|")}\n`);
  process.exit(2);
}
path().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`[mirrorChild] ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
