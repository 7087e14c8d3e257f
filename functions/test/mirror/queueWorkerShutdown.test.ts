import { MirrorQueueWorker } from "../../src/core/mirror/queueWorker";
import { memoryLogger, testDeps } from "../harness/deps";
import { createTestFirestore, eventually, type TestFirestore } from "../harness/firestore";
import { enqueue, mirrorDoc, putHistoryItem, taskDoc } from "../harness/mirrorData";

/**
 * Shutdown with a task that cannot finish: the task's mirror doc is locked by another client's
 * open transaction (a real emulator lock), so the worker's commit, which carries the task's claim,
 * waits. After the grace period the worker hands the task back to pending, which moves the task's
 * update time, so the commit still on its way fails its fence when the lock goes.
 */
let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("shutdown");
});
afterAll(() => fs.close());

it("releases a task still unfinished after the grace period, and its late commit changes nothing", async () => {
  await putHistoryItem(fs.db, "u1", "h1");
  const taskId = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1", status: "pending", attempts: 0 });

  let endTransaction!: () => void;
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const holder = fs.db.runTransaction(async (tx) => {
    await tx.get(fs.db.doc("publicGenerations/h1"));
    locked();
    await new Promise<void>((r) => (endTransaction = r));
  });
  await isLocked;

  const logger = memoryLogger();
  const worker = new MirrorQueueWorker(
    testDeps(fs.db, { logger, config: { MIRROR_POLL_INTERVAL_MS: 100, MIRROR_SHUTDOWN_GRACE_MS: 500 } }),
  );
  void worker.start();
  await eventually(
    async () => logger.entries.some((e) => e.message === "task.claimed" && e.taskId === taskId),
    Boolean,
    10_000,
    "the worker's claim",
  );

  expect(await worker.stop()).toEqual({ released: 1 });
  expect(await taskDoc(fs.db, taskId)).toMatchObject({ status: "pending", attempts: 0 });

  endTransaction();
  await holder;
  // The blocked commit goes ahead now and fails its fence: the task changed since the claim.
  await eventually(
    async () => logger.entries.some((e) => e.message === "task.lease_lost" && e.taskId === taskId),
    Boolean,
    10_000,
    "the fenced commit",
  );
  expect(await taskDoc(fs.db, taskId)).toMatchObject({ status: "pending", attempts: 0 });
  expect(await mirrorDoc(fs.db, "h1")).toBeUndefined();
  expect(logger.entries.find((e) => e.message === "worker.stopped")).toMatchObject({ released: 1 });
});
