import { getApps } from "firebase-admin/app";
import { documentCreatedEvent } from "../../dev/firestoreEvents";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { enqueue, mirrorDoc, putHistoryItem, taskDoc } from "../harness/mirrorData";
import { functionsRuntimeEnv } from "../../dev/functionsRuntime";

/** The trigger and the sweep as deployed, called as the Cloud Functions runtime calls them, against the emulator. */
let fs: TestFirestore;
let functions: typeof import("../../src/index");

beforeAll(async () => {
  fs = createTestFirestore("entry");
  // The deployed code uses the default app, which takes its project from the environment.
  Object.assign(process.env, functionsRuntimeEnv(fs.projectId));
  functions = await import("../../src/index");
});
afterAll(async () => {
  await fs.close();
});

/** The event Eventarc delivers for the task's creation. */
const created = async (taskId: string) => documentCreatedEvent(await fs.db.doc(`mirrorQueue/${taskId}`).get(), fs.projectId);

it("onMirrorQueueTaskCreated mirrors the created task", async () => {
  await putHistoryItem(fs.db, "u1", "h1");
  const taskId = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" });
  await functions.onMirrorQueueTaskCreated(await created(taskId));
  expect(await mirrorDoc(fs.db, "h1")).toMatchObject({ uid: "u1", historyId: "h1", mirrorTaskId: taskId });
  expect(await taskDoc(fs.db, taskId)).toMatchObject({ status: "done", attempts: 1 });
  // firebase-functions built the event's snapshot, through which the task is written, on the deployed code's own
  // client (with the worker settings), not on an app of its own with the SDK's defaults.
  expect(getApps().map((app) => app.name)).not.toContain("__FIREBASE_FUNCTIONS_SDK__");
});

it("applies the same trigger event delivered twice once", async () => {
  await putHistoryItem(fs.db, "u1", "h2");
  const taskId = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h2" });
  const event = await created(taskId);
  await Promise.all([functions.onMirrorQueueTaskCreated(event), functions.onMirrorQueueTaskCreated(event)]);
  await functions.onMirrorQueueTaskCreated(event);
  expect(await taskDoc(fs.db, taskId)).toMatchObject({ status: "done", attempts: 1 });
});

it("mirrorQueueSweep processes the tasks the trigger missed", async () => {
  await putHistoryItem(fs.db, "u1", "h3");
  const taskId = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h3" });
  await functions.mirrorQueueSweep.run({ scheduleTime: new Date().toISOString(), jobName: "test" });
  expect(await taskDoc(fs.db, taskId)).toMatchObject({ status: "done" });
  expect(await mirrorDoc(fs.db, "h3")).toBeDefined();
});
