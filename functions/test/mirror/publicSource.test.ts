import { FieldValue, Timestamp } from "firebase-admin/firestore";
import { processMirrorTask } from "../../src/core/mirror/processMirrorTask";
import { MAX_LOGGED_DROPS } from "../../src/core/mirror/taskRun";
import { refreshSignupImageCache } from "../../src/core/signupCache/refreshSignupImageCache";
import { ManualClock, memoryLogger, testDeps } from "../harness/deps";
import { enqueue, mirrorDoc, putHistoryItem, putUser, signupCacheIds, taskDoc } from "../harness/mirrorData";
import { MIRROR_PATHS, useMirrorTestBed } from "../harness/mirrorPaths";

/** Issue: the source decides what is public, always; and every public copy follows the mirror. */
const bed = useMirrorTestBed("public");

const deps = (clock?: ManualClock) => testDeps(bed.fs.db, { clock });
const upsert = (historyId: string, createdAtMs?: number, over: Record<string, unknown> = {}) =>
  enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId, status: "pending", ...over }, createdAtMs);
const item = (historyId: string, over: Record<string, unknown> = {}) => putHistoryItem(bed.fs.db, "u1", historyId, over);

describe("a task dated ahead of the time Firestore created it", () => {
  it("is refused when it is a year ahead: it would have made every task of the year stale", async () => {
    await item("h1");
    const taskId = await upsert("h1", Date.now() + 365 * 86_400_000);
    expect(await processMirrorTask(deps(), taskId)).toMatchObject({ status: "invalid", attempt: 1 });
    const task = await taskDoc(bed.fs.db, taskId);
    expect(task).toMatchObject({ status: "failed", deadLetter: true, attempts: 1 });
    expect(task.lastError).toMatch(/^invalid task: createdAt: createdAt is [\d,]+ s ahead of the time Firestore created the task/);
    expect(await mirrorDoc(bed.fs.db, "h1")).toBeUndefined();
  });

  it("cannot keep an item public once the source says deleted and private: a later remove and upsert both unpublish it", async () => {
    await item("h1");
    expect(await processMirrorTask(deps(), await upsert("h1", Date.now() + 50_000))).toMatchObject({
      status: "done",
      outcome: "published",
    });
    await item("h1", { isDeleted: true, isPublic: false });

    const remove = await enqueue(bed.fs.db, { op: "remove", uid: "u1", historyId: "h1", status: "pending" });
    expect(await processMirrorTask(deps(), remove)).toMatchObject({ status: "done", outcome: "removed" });
    expect(await mirrorDoc(bed.fs.db, "h1")).toBeUndefined();
    expect(await processMirrorTask(deps(), await upsert("h1"))).toMatchObject({ status: "done", outcome: "unpublished" });
    expect(await mirrorDoc(bed.fs.db, "h1")).toBeUndefined();
  });
});

describe.each(MIRROR_PATHS)("through the %s", (path) => {
  it("app servers' clocks seconds apart: an upsert dated before the one applied still unpublishes an item made private", async () => {
    await item("h1");
    const now = Date.now();
    await bed.paths.run(path, await upsert("h1", now + 5000), deps());
    expect(await mirrorDoc(bed.fs.db, "h1")).toBeDefined();
    await item("h1", { isPublic: false });

    const late = await upsert("h1", now + 1000);
    await bed.paths.run(path, late, deps());
    expect(await taskDoc(bed.fs.db, late)).toMatchObject({ status: "done", outcome: "unpublished" });
    expect(await mirrorDoc(bed.fs.db, "h1")).toBeUndefined();
  });

  it("an item made private leaves the signup image cache at once, not at the next refresh", async () => {
    await item("h1", { aestheticScore: 9 });
    await item("h2", { aestheticScore: 8 });
    for (const h of ["h1", "h2"]) await processMirrorTask(deps(), await upsert(h));
    await refreshSignupImageCache(deps());
    expect(await signupCacheIds(bed.fs.db)).toEqual(["h1", "h2"]);

    await item("h1", { aestheticScore: 9, isPublic: false });
    await bed.paths.run(path, await upsert("h1"), deps());
    expect(await signupCacheIds(bed.fs.db)).toEqual(["h2"]);
    expect((await bed.fs.db.doc("signupImageCache/current").get()).get("count")).toBe(1);
  });
});

describe("the signup image cache follows every unpublish", () => {
  it.each([
    ["a remove", async () => enqueue(bed.fs.db, { op: "remove", uid: "u1", historyId: "h1", status: "pending" })],
    ["an item deleted, then upserted", async () => (await item("h1", { aestheticScore: 9, isDeleted: true }), upsert("h1"))],
    [
      "an update that sets isDeleted",
      async () => enqueue(bed.fs.db, { op: "update", uid: "u1", historyId: "h1", status: "pending", updates: { isDeleted: true } }),
    ],
    // Source first, as the app does: the update mirrors the source as it is now.
    [
      "an update that lowers the score below the cache's minimum",
      async () => (
        await bed.fs.db.doc("generationHistory/u1/items/h1").update({ aestheticScore: 2 }),
        enqueue(bed.fs.db, { op: "update", uid: "u1", historyId: "h1", status: "pending", updates: { aestheticScore: 2 } })
      ),
    ],
  ])("%s takes the item out of the cache at once", async (_label, task) => {
    await item("h1", { aestheticScore: 9 });
    await item("h2", { aestheticScore: 8 });
    for (const h of ["h1", "h2"]) await processMirrorTask(deps(), await upsert(h));
    await refreshSignupImageCache(deps());
    expect(await signupCacheIds(bed.fs.db)).toEqual(["h1", "h2"]);
    expect(await processMirrorTask(deps(), await task())).toMatchObject({ status: "done" });
    expect(await signupCacheIds(bed.fs.db)).toEqual(["h2"]);
  });
});

describe("the mirror is the source's public projection", () => {
  it("publishes only the public fields: a field the app added to the item stays private", async () => {
    await item("h1", {
      privateNote: "for my eyes only",
      seed: 12345,
      images: [{ id: "i0", url: "https://cdn.example/0.png", storagePath: "u/u1/0.png", exif: { gps: "51.5,-0.1" } }],
    });
    await processMirrorTask(deps(), await upsert("h1"));
    const mirror = (await mirrorDoc(bed.fs.db, "h1"))!;
    expect(mirror.privateNote).toBeUndefined();
    expect(mirror.seed).toBeUndefined();
    expect(mirror.images).toEqual([{ id: "i0", url: "https://cdn.example/0.png", storagePath: "u/u1/0.png" }]);
    expect(mirror).toMatchObject({ prompt: "prompt h1", model: "flux", isPublic: true, isDeleted: false, aestheticScore: 7.5 });
  });

  it("drops from the mirror, and from the signup cache, a field deleted from the source", async () => {
    await item("h1", { aestheticScore: 9, privateNote: "x" });
    await processMirrorTask(deps(), await upsert("h1"));
    await refreshSignupImageCache(deps());
    expect(await signupCacheIds(bed.fs.db)).toEqual(["h1"]);

    await bed.fs.db.doc("generationHistory/u1/items/h1").update({ aestheticScore: FieldValue.delete(), privateNote: FieldValue.delete() });
    await processMirrorTask(deps(), await upsert("h1"));
    const mirror = (await mirrorDoc(bed.fs.db, "h1"))!;
    expect(mirror.aestheticScore).toBeUndefined();
    expect(mirror.privateNote).toBeUndefined();
    expect(await signupCacheIds(bed.fs.db)).toEqual([]);
  });

  it("builds createdBy from users/{uid} only: a createdBy the owner wrote into the item or the task is ignored", async () => {
    await putUser(bed.fs.db, "u1", "Ana");
    await putUser(bed.fs.db, "u2", "Famous Person");
    const forged = { uid: "u2", username: "u2", displayName: "Famous Person", photoURL: "https://p.example/u2.png" };
    await item("h1", { createdBy: forged });
    await processMirrorTask(deps(), await upsert("h1", undefined, { snapshot: { isPublic: true, createdBy: forged } }));
    expect((await mirrorDoc(bed.fs.db, "h1"))!.createdBy).toEqual({
      uid: "u1",
      username: "u1",
      displayName: "Ana",
      photoURL: "https://p.example/u1.png",
    });
  });

  it("keeps Firestore types: a snapshot that went through JSON cannot put a map where the source has a Timestamp", async () => {
    const createdAt = Timestamp.fromMillis(1_700_000_000_123);
    await item("h1", { createdAt, prompt: "from the source" });
    const json = JSON.parse(
      JSON.stringify({ ...(await bed.fs.db.doc("generationHistory/u1/items/h1").get()).data(), prompt: "from the snapshot" }),
    );
    expect(json.createdAt).toEqual({ _seconds: 1_700_000_000, _nanoseconds: 123_000_000 });
    await processMirrorTask(deps(), await upsert("h1", undefined, { snapshot: json }));

    const mirror = (await mirrorDoc(bed.fs.db, "h1"))!;
    expect(mirror.createdAt).toBeInstanceOf(Timestamp);
    expect((mirror.createdAt as Timestamp).isEqual(createdAt)).toBe(true);
    expect(mirror.prompt).toBe("from the source");
    const inRange = await bed.fs.db.collection("publicGenerations").where("createdAt", ">=", Timestamp.fromMillis(1_699_999_999_000)).get();
    expect(inRange.docs.map((d) => d.id)).toEqual(["h1"]);
  });

  it("publishes nothing for an item whose publishing flags are not booleans", async () => {
    for (const [h, flags] of [
      ["s1", { isPublic: "true" }],
      ["s2", { isPublic: 1 }],
      ["s3", { isDeleted: "false" }],
      ["s4", { isDeleted: 0 }],
    ] as const) {
      await item(h, flags);
      expect(await processMirrorTask(deps(), await upsert(h))).toMatchObject({ status: "done", outcome: "unpublished" });
      expect(await mirrorDoc(bed.fs.db, h)).toBeUndefined();
    }
  });

  it("leaves out, and logs, a public field of the wrong type in the source, and publishes the rest", async () => {
    const logger = memoryLogger();
    await item("h1", { aestheticScore: "9", images: [{ id: "i0", url: 42 }] });
    await processMirrorTask(testDeps(bed.fs.db, { logger }), await upsert("h1"));
    const mirror = (await mirrorDoc(bed.fs.db, "h1"))!;
    expect(mirror.aestheticScore).toBeUndefined();
    expect(mirror.images).toEqual([{ id: "i0" }]);
    expect(mirror.prompt).toBe("prompt h1");
    expect(logger.entries.find((e) => e.message === "task.source_fields_dropped")).toMatchObject({
      dropped: ["images[0].url must be a string, got 42", 'aestheticScore must be a number from 0 to 10, got "9"'],
    });
  });

  it("logs the first MAX_LOGGED_DROPS fields it leaves out and their count, however many the source has", async () => {
    const logger = memoryLogger();
    await item("h1", { images: Array.from({ length: 20_000 }, (_, i) => ({ id: `i${i}`, url: 42 })) });
    await processMirrorTask(testDeps(bed.fs.db, { logger }), await upsert("h1"));
    const entry = logger.entries.find((e) => e.message === "task.source_fields_dropped")!;
    expect(entry.dropped).toHaveLength(MAX_LOGGED_DROPS);
    expect((entry.dropped as string[])[0]).toBe("images[0].url must be a string, got 42");
    expect(entry.droppedCount).toBe(20_000);
    // Far below Cloud Logging's 256 KB per entry, past which the entry is lost.
    expect(JSON.stringify(entry).length).toBeLessThan(10_000);
  });
});
