import { MirrorQueueWorker } from "../../src/core/mirror/queueWorker";
import { PROFILE_TTL_MS } from "../../src/core/mirror/profiles";
import { ManualClock, testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { enqueue, mirrorDoc, putHistoryItem, putUser } from "../harness/mirrorData";

/**
 * A standalone worker reads an owner's profile once per PROFILE_TTL_MS (profiles.ts): an edit of
 * the profile reaches the items it publishes from then on within that time, and a new worker, the
 * trigger or the sweep read it afresh.
 */
let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("profiles");
});
beforeEach(() => fs.clear());
afterAll(() => fs.close());

async function publish(worker: MirrorQueueWorker, historyId: string): Promise<unknown> {
  await putHistoryItem(fs.db, "u1", historyId);
  await enqueue(fs.db, { op: "upsert", uid: "u1", historyId });
  expect(await worker.pollOnce()).toMatchObject({ progressed: 1 });
  return (await mirrorDoc(fs.db, historyId))?.createdBy;
}

it("a profile edit reaches a standalone worker's next publications within PROFILE_TTL_MS", async () => {
  await putUser(fs.db, "u1", "Ana");
  const clock = new ManualClock();
  const worker = new MirrorQueueWorker(testDeps(fs.db, { clock }));
  expect(await publish(worker, "h1")).toMatchObject({ uid: "u1", displayName: "Ana" });

  await putUser(fs.db, "u1", "Ana B.");
  clock.advance(PROFILE_TTL_MS - 1);
  expect(await publish(worker, "h2")).toMatchObject({ displayName: "Ana" });
  clock.advance(1);
  expect(await publish(worker, "h3")).toMatchObject({ displayName: "Ana B." });
  // Another worker reads it afresh.
  expect(await publish(new MirrorQueueWorker(testDeps(fs.db, { clock })), "h4")).toMatchObject({ displayName: "Ana B." });
});
