import { processMirrorTask } from "../../src/core/mirror/processMirrorTask";
import { testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { enqueue, mirrorDoc, putHistoryItem, putUser, taskDoc } from "../harness/mirrorData";
import { MIRROR_PATHS, mirrorPaths, type MirrorPaths } from "../harness/mirrorPaths";

/**
 * A gallery id (the mirror doc's id, the history item's id) stays its owner's: every removal leaves
 * an owner tombstone, which firestore.rules check when a user creates a history item (see
 * test/rules), and no task changes a mirror doc whose owner it cannot prove.
 */
let fs: TestFirestore;
let paths: MirrorPaths;
beforeAll(async () => {
  fs = createTestFirestore("galleryids");
  paths = await mirrorPaths(fs.db, fs.projectId);
});
beforeEach(() => fs.clear());
afterAll(async () => {
  paths.cleanup();
  await fs.close();
});

const deps = () => testDeps(fs.db);
const owner = async (historyId: string) => (await fs.db.doc(`publicGenerationOwners/${historyId}`).get()).data();

describe.each(MIRROR_PATHS)("through the %s", (path) => {
  it.each([
    [
      "made private, then upserted",
      async () => (
        await putHistoryItem(fs.db, "alice", "alice-photo-1", { isPublic: false }),
        enqueue(fs.db, { op: "upsert", uid: "alice", historyId: "alice-photo-1" })
      ),
    ],
    [
      "deleted, then removed",
      async () => (
        await fs.db.doc("generationHistory/alice/items/alice-photo-1").delete(),
        enqueue(fs.db, { op: "remove", uid: "alice", historyId: "alice-photo-1" })
      ),
    ],
    [
      "unpublished by an update",
      async () => enqueue(fs.db, { op: "update", uid: "alice", historyId: "alice-photo-1", updates: { isPublic: false } }),
    ],
  ])("an item %s leaves a tombstone naming its owner where its mirror doc was", async (_label, unpublish) => {
    await putUser(fs.db, "alice");
    await putHistoryItem(fs.db, "alice", "alice-photo-1");
    await processMirrorTask(deps(), await enqueue(fs.db, { op: "upsert", uid: "alice", historyId: "alice-photo-1" }, Date.now() - 10_000));
    expect(await owner("alice-photo-1")).toBeUndefined();
    await paths.run(path, await unpublish(), deps());
    expect(await mirrorDoc(fs.db, "alice-photo-1")).toBeUndefined();
    expect(await owner("alice-photo-1")).toMatchObject({ uid: "alice" });
    // The owner publishes it again: the tombstone is hers, and the upsert does not read it.
    await putHistoryItem(fs.db, "alice", "alice-photo-1");
    await processMirrorTask(deps(), await enqueue(fs.db, { op: "upsert", uid: "alice", historyId: "alice-photo-1" }));
    expect(await mirrorDoc(fs.db, "alice-photo-1")).toMatchObject({ uid: "alice" });
  });

  it("a mirror doc without a uid is changed by no task: any user's upsert is a dead letter naming uid", async () => {
    await fs.db.doc("publicGenerations/legacy1").set({ prompt: "alice's legacy item", isPublic: true, isDeleted: false, images: [] });
    await putHistoryItem(fs.db, "mallory", "legacy1", { prompt: "defaced" });
    const id = await enqueue(fs.db, { op: "upsert", uid: "mallory", historyId: "legacy1" });
    await paths.run(path, id, deps());
    const t = await taskDoc(fs.db, id);
    expect(t).toMatchObject({ status: "failed", deadLetter: true });
    expect(t.lastError).toMatch(/^publicGenerations\/legacy1 has no uid/);
    expect(await mirrorDoc(fs.db, "legacy1")).toEqual({ prompt: "alice's legacy item", isPublic: true, isDeleted: false, images: [] });
  });
});
