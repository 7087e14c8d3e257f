import { processMirrorTask } from "../../src/core/mirror/processMirrorTask";
import { testDeps } from "../harness/deps";
import { enqueue, mirrorDoc, putHistoryItem, putUser, taskDoc } from "../harness/mirrorData";
import { MIRROR_PATHS, useMirrorTestBed } from "../harness/mirrorPaths";

/**
 * A gallery id (the mirror doc's id, the history item's id) stays its owner's: every removal leaves
 * an owner tombstone, which firestore.rules check when a user creates a history item (see
 * test/rules), and no task changes a mirror doc whose owner it cannot prove.
 */
const bed = useMirrorTestBed("galleryids");

const deps = () => testDeps(bed.fs.db);
const owner = async (historyId: string) => (await bed.fs.db.doc(`publicGenerationOwners/${historyId}`).get()).data();

describe.each(MIRROR_PATHS)("through the %s", (path) => {
  it.each([
    [
      "made private, then upserted",
      async () => (
        await putHistoryItem(bed.fs.db, "alice", "alice-photo-1", { isPublic: false }),
        enqueue(bed.fs.db, { op: "upsert", uid: "alice", historyId: "alice-photo-1" })
      ),
    ],
    [
      "deleted, then removed",
      async () => (
        await bed.fs.db.doc("generationHistory/alice/items/alice-photo-1").delete(),
        enqueue(bed.fs.db, { op: "remove", uid: "alice", historyId: "alice-photo-1" })
      ),
    ],
    [
      "unpublished by an update",
      async () => enqueue(bed.fs.db, { op: "update", uid: "alice", historyId: "alice-photo-1", updates: { isPublic: false } }),
    ],
  ])("an item %s leaves a tombstone naming its owner where its mirror doc was", async (_label, unpublish) => {
    await putUser(bed.fs.db, "alice");
    await putHistoryItem(bed.fs.db, "alice", "alice-photo-1");
    await processMirrorTask(
      deps(),
      await enqueue(bed.fs.db, { op: "upsert", uid: "alice", historyId: "alice-photo-1" }, Date.now() - 10_000),
    );
    expect(await owner("alice-photo-1")).toBeUndefined();
    await bed.paths.run(path, await unpublish(), deps());
    expect(await mirrorDoc(bed.fs.db, "alice-photo-1")).toBeUndefined();
    expect(await owner("alice-photo-1")).toMatchObject({ uid: "alice" });
    // The owner publishes it again: the tombstone is hers, and the upsert does not read it.
    await putHistoryItem(bed.fs.db, "alice", "alice-photo-1");
    await processMirrorTask(deps(), await enqueue(bed.fs.db, { op: "upsert", uid: "alice", historyId: "alice-photo-1" }));
    expect(await mirrorDoc(bed.fs.db, "alice-photo-1")).toMatchObject({ uid: "alice" });
  });

  it("a mirror doc without a uid is changed by no task: any user's upsert is a dead letter naming uid", async () => {
    await bed.fs.db.doc("publicGenerations/legacy1").set({ prompt: "alice's legacy item", isPublic: true, isDeleted: false, images: [] });
    await putHistoryItem(bed.fs.db, "mallory", "legacy1", { prompt: "defaced" });
    const id = await enqueue(bed.fs.db, { op: "upsert", uid: "mallory", historyId: "legacy1" });
    await bed.paths.run(path, id, deps());
    const t = await taskDoc(bed.fs.db, id);
    expect(t).toMatchObject({ status: "failed", deadLetter: true });
    expect(t.lastError).toMatch(/^publicGenerations\/legacy1 has no uid/);
    expect(await mirrorDoc(bed.fs.db, "legacy1")).toEqual({ prompt: "alice's legacy item", isPublic: true, isDeleted: false, images: [] });
  });
});
