import { FieldValue } from "firebase-admin/firestore";
import { processMirrorTask } from "../../src/core/mirror/processMirrorTask";
import { testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { enqueue, mirrorDoc, putHistoryItem, taskDoc } from "../harness/mirrorData";

/** Issue: a task cannot touch what is not its own, and an update cannot rewrite what is not public. */
let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("bounds");
});
beforeEach(() => fs.clear());
afterAll(() => fs.close());

const deps = () => testDeps(fs.db);
const run = async (task: Record<string, unknown>) => processMirrorTask(deps(), await enqueue(fs.db, { status: "pending", ...task }));

async function publishAsU1(historyId = "h1") {
  await putHistoryItem(fs.db, "u1", historyId);
  expect(await run({ op: "upsert", uid: "u1", historyId })).toMatchObject({ outcome: "published" });
  return mirrorDoc(fs.db, historyId);
}

describe("a task whose uid does not own the item", () => {
  it.each([
    ["remove", {}],
    ["update", { updates: { prompt: "defaced" } }],
    ["upsert", {}],
  ])("%s of another user's item changes nothing and fails at once, saying why", async (op, extra) => {
    const before = await publishAsU1();
    // u2 even has an item under the same id in its own history, public.
    await putHistoryItem(fs.db, "u2", "h1", { prompt: "impostor" });
    const result = await run({ op, uid: "u2", historyId: "h1", ...extra });

    expect(result).toMatchObject({ status: "dead-letter", attempt: 1 });
    const task = await taskDoc(fs.db, result.taskId);
    expect(task).toMatchObject({ status: "failed", deadLetter: true, attempts: 1 });
    expect(task.lastError).toBe('task uid "u2" does not own publicGenerations/h1: it belongs to another user');
    expect(await mirrorDoc(fs.db, "h1")).toEqual(before);
  });
});

describe("an update's payload", () => {
  it.each([
    ["uid", { uid: "u2" }],
    ["historyId", { historyId: "other" }],
    ["createdBy", { createdBy: { uid: "u2", displayName: "Famous Person" } }],
    ["mirrorTaskId", { mirrorTaskId: "forged" }],
    ["mirroredAt", { mirroredAt: null }],
  ])("cannot rewrite %s: the task is invalid and the mirror unchanged", async (field, updates) => {
    const before = await publishAsU1();
    const result = await run({ op: "update", uid: "u1", historyId: "h1", updates: { prompt: "edited", ...updates } });
    expect(result).toMatchObject({ status: "invalid" });
    expect((await taskDoc(fs.db, result.taskId)).lastError).toBe(
      `invalid task: updates.${field}: is set by the workers; an update may not change it`,
    );
    expect(await mirrorDoc(fs.db, "h1")).toEqual(before);
  });

  it.each([
    ["isPublic", "false", 'must be a boolean, got "false"'],
    ["isDeleted", 1, "must be a boolean, got 1"],
    ["aestheticScore", "9", 'must be a number from 0 to 10, got "9"'],
    ["aestheticScore", 1e308, "must be a number from 0 to 10, got 1e+308"],
    ["images", { 0: { url: "x" } }, "must be an array, got a map"],
  ])("type-checks %s: %j is invalid, not 'still public'", async (field, value, message) => {
    const before = await publishAsU1();
    const result = await run({ op: "update", uid: "u1", historyId: "h1", updates: { [field]: value } });
    expect(result).toMatchObject({ status: "invalid" });
    expect((await taskDoc(fs.db, result.taskId)).lastError).toBe(`invalid task: updates.${field}: ${message}`);
    expect(await mirrorDoc(fs.db, "h1")).toEqual(before);
  });

  it("with thousands of wrong values, is a dead letter whose bounded lastError names the field, payload kept", async () => {
    await publishAsU1();
    const images = Array.from({ length: 5_000 }, () => ({ id: 1, url: 2, storagePath: 3, thumbnailUrl: 4, avifUrl: 5 }));
    const result = await run({ op: "update", uid: "u1", historyId: "h1", updates: { images } });
    expect(result).toMatchObject({ status: "invalid" });
    const task = await taskDoc(fs.db, result.taskId);
    expect(task).toMatchObject({ status: "failed", deadLetter: true });
    expect(task.lastError).toMatch(/^invalid task: updates\.images\[0\]\.id: must be a string, got 1; .* and 24,995 more problems$/);
    expect(task.updates.images).toHaveLength(5_000);
  });

  it("mirrors the source's public fields as they are now, whatever the payload says, and never the others", async () => {
    await publishAsU1();
    // Source first, as the app does; the payload is validated, never published.
    await fs.db
      .doc("generationHistory/u1/items/h1")
      .update({ prompt: "edited", privateNote: "secret", aestheticScore: FieldValue.delete() });
    expect(
      await run({
        op: "update",
        uid: "u1",
        historyId: "h1",
        updates: { prompt: "payload only", privateNote: "secret", aestheticScore: null },
      }),
    ).toMatchObject({ outcome: "updated" });
    const mirror = (await mirrorDoc(fs.db, "h1"))!;
    expect(mirror.prompt).toBe("edited");
    expect(mirror.privateNote).toBeUndefined();
    expect(mirror.aestheticScore).toBeUndefined();
  });

  it("unpublishes the item when it sets isPublic: false or isDeleted: true", async () => {
    await publishAsU1("h1");
    await publishAsU1("h2");
    expect(await run({ op: "update", uid: "u1", historyId: "h1", updates: { isPublic: false } })).toMatchObject({ outcome: "removed" });
    expect(await run({ op: "update", uid: "u1", historyId: "h2", updates: { isDeleted: true } })).toMatchObject({ outcome: "removed" });
    expect(await mirrorDoc(fs.db, "h1")).toBeUndefined();
    expect(await mirrorDoc(fs.db, "h2")).toBeUndefined();
  });

  it("cannot publish what the source says is private, even with isPublic: true", async () => {
    await publishAsU1();
    await putHistoryItem(fs.db, "u1", "h1", { isPublic: false });
    expect(await run({ op: "update", uid: "u1", historyId: "h1", updates: { isPublic: true, prompt: "look at me" } })).toMatchObject({
      outcome: "unpublished",
    });
    expect(await mirrorDoc(fs.db, "h1")).toBeUndefined();
  });
});

describe("smart merge", () => {
  it("keeps the thumbnail and AVIF of a file replaced at the same storage path, whose download URL token changed", async () => {
    const storagePath = "u/u1/h1/0.png";
    await putHistoryItem(fs.db, "u1", "h1", { images: [{ url: "https://cdn.example/0.png?token=1", storagePath }] });
    await run({ op: "upsert", uid: "u1", historyId: "h1" });
    await fs.db.doc("publicGenerations/h1").update({
      images: [
        {
          url: "https://cdn.example/0.png?token=1",
          storagePath,
          thumbnailUrl: "https://cdn.example/0.webp",
          avifUrl: "https://cdn.example/0.avif",
        },
      ],
    });

    const images = [{ url: "https://cdn.example/0.png?token=2", storagePath }];
    await putHistoryItem(fs.db, "u1", "h1", { images });
    expect(await run({ op: "upsert", uid: "u1", historyId: "h1" })).toMatchObject({ outcome: "published" });
    expect((await mirrorDoc(fs.db, "h1"))!.images).toEqual([
      { ...images[0], thumbnailUrl: "https://cdn.example/0.webp", avifUrl: "https://cdn.example/0.avif" },
    ]);

    const updated = [{ url: "https://cdn.example/0.png?token=3", storagePath }];
    await putHistoryItem(fs.db, "u1", "h1", { images: updated });
    expect(await run({ op: "update", uid: "u1", historyId: "h1", updates: { images: updated } })).toMatchObject({ outcome: "updated" });
    expect((await mirrorDoc(fs.db, "h1"))!.images).toEqual([
      { ...updated[0], thumbnailUrl: "https://cdn.example/0.webp", avifUrl: "https://cdn.example/0.avif" },
    ]);
  });
});
