import firebaseFunctionsTest from "firebase-functions-test";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { enqueue, mirrorDoc, putHistoryItem, taskDoc } from "../harness/mirrorData";

/** The trigger and the sweep as deployed, driven through firebase-functions-test against the emulator. */
let fs: TestFirestore;
let fft: ReturnType<typeof firebaseFunctionsTest>;
let functions: typeof import("../../src/index");

beforeAll(async () => {
  fs = createTestFirestore("entry");
  // The deployed code uses the default app, which takes its project from the environment.
  process.env.GCLOUD_PROJECT = fs.projectId;
  fft = firebaseFunctionsTest({ projectId: fs.projectId });
  functions = await import("../../src/index");
});
afterAll(async () => {
  fft.cleanup();
  await fs.close();
});

const created = (taskId: string) => ({ params: { taskId }, data: fft.firestore.makeDocumentSnapshot({}, `mirrorQueue/${taskId}`) });

it("onMirrorQueueTaskCreated mirrors the created task", async () => {
  await putHistoryItem(fs.db, "u1", "h1");
  const taskId = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" });
  await fft.wrap(functions.onMirrorQueueTaskCreated)(created(taskId));
  expect(await mirrorDoc(fs.db, "h1")).toMatchObject({ uid: "u1", historyId: "h1", mirrorTaskId: taskId });
  expect(await taskDoc(fs.db, taskId)).toMatchObject({ status: "done", attempts: 1 });
});

it("applies the same trigger event delivered twice once", async () => {
  await putHistoryItem(fs.db, "u1", "h2");
  const taskId = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h2" });
  const wrapped = fft.wrap(functions.onMirrorQueueTaskCreated);
  await Promise.all([wrapped(created(taskId)), wrapped(created(taskId))]);
  await wrapped(created(taskId));
  expect(await taskDoc(fs.db, taskId)).toMatchObject({ status: "done", attempts: 1 });
});

it("mirrorQueueSweep processes the tasks the trigger missed", async () => {
  await putHistoryItem(fs.db, "u1", "h3");
  const taskId = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h3" });
  await functions.mirrorQueueSweep.run({ scheduleTime: new Date().toISOString(), jobName: "test" });
  expect(await taskDoc(fs.db, taskId)).toMatchObject({ status: "done" });
  expect(await mirrorDoc(fs.db, "h3")).toBeDefined();
});
