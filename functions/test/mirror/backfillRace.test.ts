import { FieldValue, type Firestore } from "firebase-admin/firestore";
import { documentCreatedEvent } from "../../dev/firestoreEvents";
import { runBackfill } from "../../src/core/mirror/backfill";
import { processMirrorTask } from "../../src/core/mirror/processMirrorTask";
import { testDeps } from "../harness/deps";
import { createTestFirestore, eventuallyWhileProgressing, type TestFirestore } from "../harness/firestore";
import { mirrorMismatches } from "../harness/mirrorCheck";
import { historyItem } from "../harness/mirrorData";
import { killAll, Pace, startMeasured, startWorkerProcess, type WorkerProcess } from "../harness/processes";
import { functionsRuntimeEnv } from "../../dev/functionsRuntime";

/**
 * The backfill racing everything else that processes mirror tasks for the same items: two
 * standalone worker processes, the trigger (fired for every task, as Firestore would, the
 * backfill's included), the backfill's own in-process apply, and the app changing items and
 * enqueueing its tasks meanwhile. Whatever the interleaving, the mirror ends as the newest state
 * of the sources.
 */
let fs: TestFirestore;
let started: WorkerProcess[] = [];
let fire: (taskId: string) => Promise<unknown>;
beforeAll(async () => {
  fs = createTestFirestore("bf-race");
  Object.assign(process.env, functionsRuntimeEnv(fs.projectId));
  const { onMirrorQueueTaskCreated } = await import("../../src/index");
  // The task's creation event, built from the task as read when it fires (usually still as created).
  fire = async (taskId) => onMirrorQueueTaskCreated(documentCreatedEvent(await fs.db.doc(`mirrorQueue/${taskId}`).get(), fs.projectId));
});
afterEach(async () => {
  await killAll(started);
  started = [];
});
afterAll(() => fs.close());

const N = 300;
const path = (i: number) => `generationHistory/u${i % 5}/items/h${i}`;

/** The app's side: change an item, then enqueue the task that says so (the contract's order), and let the trigger fire. */
async function appChange(db: Firestore, i: number, round: number): Promise<void> {
  const uid = `u${i % 5}`;
  const historyId = `h${i}`;
  const ref = db.doc(path(i));
  let task: Record<string, unknown>;
  switch (round % 4) {
    case 0:
      // An edit of the prompt alone, of an item that exists: what an `update` task is for.
      if ((await ref.get()).exists) {
        await ref.update({ prompt: `edited ${round}` });
        task = { op: "update", updates: { prompt: `edited ${round}` } };
      } else {
        await ref.set({ ...historyItem(uid, historyId), prompt: `edited ${round}` });
        task = { op: "upsert" };
      }
      break;
    case 1:
      await ref.set({ ...historyItem(uid, historyId), isPublic: round % 3 !== 0 });
      task = { op: "upsert" };
      break;
    case 2:
      await ref.delete();
      task = { op: "remove" };
      break;
    default:
      await ref.set({ ...historyItem(uid, historyId), prompt: `recreated ${round}` });
      task = { op: "upsert" };
  }
  const created = await db
    .collection("mirrorQueue")
    .add({ ...task, uid, historyId, status: "pending", createdAt: FieldValue.serverTimestamp() });
  await fire(created.id);
}

const unsettled = async (db: Firestore) =>
  (await db.collection("mirrorQueue").get()).docs
    .filter((d) => d.get("status") !== "done")
    .map((d) => `${d.id} ${d.get("status")} ${d.get("lastError") ?? ""}`);

it("backfill, two workers, the trigger and the app's own changes on the same items end in the newest state", async () => {
  const writer = fs.db.bulkWriter();
  for (let u = 0; u < 5; u++) writer.set(fs.db.doc(`users/u${u}`), { username: `u${u}`, displayName: `User ${u}`, photoURL: null });
  for (let i = 0; i < N; i++) writer.set(fs.db.doc(path(i)), historyItem(`u${i % 5}`, `h${i}`, { isPublic: i % 4 !== 0 }));
  await writer.close();
  const fast = { MIRROR_POLL_INTERVAL_MS: "100", MIRROR_MAX_BACKOFF_MS: "400" };
  const { startMs } = await startMeasured(2, () => {
    const w = startWorkerProcess("mirrorQueueWorker.js", fs.projectId, fast);
    started.push(w);
    return w;
  });

  const deps = testDeps(fs.db);
  let appDone = false;
  const app = (async () => {
    // The app keeps changing items the backfill walks, ahead of it and behind it.
    for (let round = 0; round < 120; round++) await appChange(fs.db, (round * 37) % N, round);
    appDone = true;
  })();
  const report = await runBackfill(deps, {
    rate: 400,
    pageSize: 40,
    // The CLI's apply where the trigger is deployed: both go for every backfill task.
    apply: async (taskId) => (await Promise.all([processMirrorTask(deps, taskId, { workerId: "backfill" }), fire(taskId)]))[0],
  });
  await app;
  expect(appDone).toBe(true);
  expect(report).toMatchObject({ complete: true, tasks: { notDone: [] } });
  expect(report.tasks.enqueued).toBeGreaterThan(100);

  await eventuallyWhileProgressing(
    () => unsettled(fs.db),
    (left) => left.length === 0,
    Pace.STALL_STARTS * startMs,
    "every task done",
  );
  expect(await mirrorMismatches(fs.db)).toEqual([]);
});
