import { Timestamp } from "firebase-admin/firestore";
import { claimTask, recordFailure, releaseTask } from "../../src/core/mirror/lease";
import { processMirrorTask } from "../../src/core/mirror/processMirrorTask";
import { sweepMirrorQueue } from "../../src/core/mirror/sweep";
import { ManualClock, testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { enqueue, enqueueRaw, mirrorDoc, putHistoryItem, taskDoc } from "../harness/mirrorData";

let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("mirror");
});
beforeEach(() => fs.clear());
afterAll(() => fs.close());

const deps = (clock?: ManualClock) => testDeps(fs.db, { clock });

describe("upsert", () => {
  it("publishes the source item with createdBy from users/{uid} and marks the task done", async () => {
    await fs.db.doc("users/u1").set({ username: "ana", displayName: "Ana", photoURL: "https://p/ana.png" });
    const item = await putHistoryItem(fs.db, "u1", "h1");
    const taskId = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" });

    const result = await processMirrorTask(deps(), taskId);

    expect(result).toMatchObject({ status: "done", outcome: "published", attempt: 1 });
    const mirror = await mirrorDoc(fs.db, "h1");
    expect(mirror).toMatchObject({
      prompt: item.prompt,
      images: item.images,
      uid: "u1",
      historyId: "h1",
      createdBy: { uid: "u1", username: "ana", displayName: "Ana", photoURL: "https://p/ana.png" },
      mirrorTaskId: taskId,
    });
    const task = await taskDoc(fs.db, taskId);
    expect(task).toMatchObject({ status: "done", attempts: 1, outcome: "published" });
    expect(task.leaseOwner).toBeUndefined();
    expect((task.expireAt as Timestamp).toMillis()).toBeGreaterThan(Date.now() + 6 * 24 * 3600_000);
  });

  it("attaches a createdBy with nulls when the user has no profile", async () => {
    await putHistoryItem(fs.db, "ghost", "h1");
    await processMirrorTask(deps(), await enqueue(fs.db, { op: "upsert", uid: "ghost", historyId: "h1" }));
    expect((await mirrorDoc(fs.db, "h1"))!.createdBy).toEqual({ uid: "ghost", username: null, displayName: null, photoURL: null });
  });

  it.each([
    ["deleted", { isDeleted: true }],
    ["private", { isPublic: false }],
  ])("never publishes a %s item even from a stale snapshot that says public, and removes its mirror", async (_label, change) => {
    await putHistoryItem(fs.db, "u1", "h1");
    await processMirrorTask(deps(), await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" }));
    expect(await mirrorDoc(fs.db, "h1")).toBeDefined();

    await putHistoryItem(fs.db, "u1", "h1", change);
    const stale = await enqueue(fs.db, {
      op: "upsert",
      uid: "u1",
      historyId: "h1",
      snapshot: { prompt: "stale", isPublic: true, isDeleted: false },
    });
    expect(await processMirrorTask(deps(), stale)).toMatchObject({ status: "done", outcome: "unpublished" });
    expect(await mirrorDoc(fs.db, "h1")).toBeUndefined();
  });

  it("publishes nothing for a source item that does not exist", async () => {
    const taskId = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "nope", snapshot: { prompt: "x", isPublic: true } });
    expect(await processMirrorTask(deps(), taskId)).toMatchObject({ status: "done", outcome: "unpublished" });
    expect(await mirrorDoc(fs.db, "nope")).toBeUndefined();
  });
});

describe("update", () => {
  it("merges images while keeping the mirror's thumbnailUrl/avifUrl", async () => {
    await putHistoryItem(fs.db, "u1", "h1");
    await processMirrorTask(deps(), await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" }));
    // An optimizer adds its fields to the mirror later.
    await fs.db.doc("publicGenerations/h1").update({
      images: [
        {
          id: "h1-img0",
          url: "https://cdn.example/h1/0.png",
          thumbnailUrl: "https://cdn.example/h1/0.thumb.webp",
          avifUrl: "https://cdn.example/h1/0.avif",
        },
      ],
      videos: [{ id: "v0", url: "https://cdn.example/h1/v.mp4", thumbnailUrl: "https://cdn.example/h1/v.jpg" }],
    });

    // Source first, as the app does; the update mirrors the source as it is now.
    const updates = {
      prompt: "edited",
      images: [
        { id: "h1-img0", url: "https://cdn.example/h1/0-v2.png" },
        { id: "h1-img1", url: "https://cdn.example/h1/1.png" },
      ],
      videos: [{ url: "https://cdn.example/h1/v.mp4" }],
    };
    await fs.db.doc("generationHistory/u1/items/h1").update(updates);
    const taskId = await enqueue(fs.db, { op: "update", uid: "u1", historyId: "h1", updates });
    expect(await processMirrorTask(deps(), taskId)).toMatchObject({ status: "done", outcome: "updated" });

    const mirror = await mirrorDoc(fs.db, "h1");
    expect(mirror!.prompt).toBe("edited");
    expect(mirror!.images).toEqual([
      {
        id: "h1-img0",
        url: "https://cdn.example/h1/0-v2.png",
        thumbnailUrl: "https://cdn.example/h1/0.thumb.webp",
        avifUrl: "https://cdn.example/h1/0.avif",
      },
      { id: "h1-img1", url: "https://cdn.example/h1/1.png" },
    ]);
    expect(mirror!.videos).toEqual([{ url: "https://cdn.example/h1/v.mp4", thumbnailUrl: "https://cdn.example/h1/v.jpg" }]);
    expect(mirror!.createdBy).toBeDefined();
  });

  it("creates nothing for an item that is not mirrored", async () => {
    const taskId = await enqueue(fs.db, { op: "update", uid: "u1", historyId: "h9", updates: { prompt: "x" } });
    expect(await processMirrorTask(deps(), taskId)).toMatchObject({ status: "done", outcome: "not-mirrored" });
    expect(await mirrorDoc(fs.db, "h9")).toBeUndefined();
  });

  it("removes the mirror when the update makes the item private", async () => {
    await putHistoryItem(fs.db, "u1", "h1");
    await processMirrorTask(deps(), await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" }));
    const taskId = await enqueue(fs.db, { op: "update", uid: "u1", historyId: "h1", updates: { isPublic: false } });
    expect(await processMirrorTask(deps(), taskId)).toMatchObject({ status: "done", outcome: "removed" });
    expect(await mirrorDoc(fs.db, "h1")).toBeUndefined();
  });
});

describe("remove", () => {
  it("deletes the mirror doc, and succeeds when it is already gone", async () => {
    await putHistoryItem(fs.db, "u1", "h1");
    await processMirrorTask(deps(), await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" }));
    expect(await processMirrorTask(deps(), await enqueue(fs.db, { op: "remove", uid: "u1", historyId: "h1" }))).toMatchObject({
      status: "done",
      outcome: "removed",
    });
    expect(await mirrorDoc(fs.db, "h1")).toBeUndefined();
    expect(await processMirrorTask(deps(), await enqueue(fs.db, { op: "remove", uid: "u1", historyId: "h1" }))).toMatchObject({
      status: "done",
      outcome: "removed",
    });
  });
});

describe("ordering and duplicates", () => {
  it("applies the same task delivered twice once", async () => {
    await putHistoryItem(fs.db, "u1", "h1");
    const taskId = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" });
    const [a, b] = await Promise.all([processMirrorTask(deps(), taskId), processMirrorTask(deps(), taskId)]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual(["done", "skipped"]);
    expect(await processMirrorTask(deps(), taskId)).toMatchObject({ status: "skipped", reason: "done" });
    expect((await taskDoc(fs.db, taskId)).attempts).toBe(1);
  });

  it("ends in the newest state when tasks for one doc arrive out of order", async () => {
    await putHistoryItem(fs.db, "u1", "h1");
    const t0 = Date.now();
    const first = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" }, t0);
    const second = await enqueue(fs.db, { op: "update", uid: "u1", historyId: "h1", updates: { prompt: "v2" } }, t0 + 10);
    const third = await enqueue(fs.db, { op: "update", uid: "u1", historyId: "h1", updates: { prompt: "v3" } }, t0 + 20);
    // The source went v2, then v3, before the workers ran: every task mirrors the source as it is now.
    await fs.db.doc("generationHistory/u1/items/h1").update({ prompt: "v3" });

    expect(await processMirrorTask(deps(), first)).toMatchObject({ outcome: "published" });
    expect(await processMirrorTask(deps(), third)).toMatchObject({ outcome: "updated" });
    expect(await processMirrorTask(deps(), second)).toMatchObject({ status: "done", outcome: "updated" });
    expect((await mirrorDoc(fs.db, "h1"))!).toMatchObject({ prompt: "v3", mirrorTaskId: third });
  });

  it("lets the source decide after a removal: an older upsert of an item made private publishes nothing", async () => {
    await putHistoryItem(fs.db, "u1", "h1");
    const t0 = Date.now();
    const upsert = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" }, t0);
    await putHistoryItem(fs.db, "u1", "h1", { isPublic: false });
    const remove = await enqueue(fs.db, { op: "remove", uid: "u1", historyId: "h1" }, t0 + 10);
    expect(await processMirrorTask(deps(), remove)).toMatchObject({ outcome: "removed" });
    expect(await processMirrorTask(deps(), upsert)).toMatchObject({ status: "done", outcome: "unpublished" });
    expect(await mirrorDoc(fs.db, "h1")).toBeUndefined();
    // Made public again, the next upsert publishes it.
    await putHistoryItem(fs.db, "u1", "h1");
    expect(await processMirrorTask(deps(), await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" }, t0 + 20))).toMatchObject({
      outcome: "published",
    });
  });

  it("skips a remove older than the upsert applied last while the source says public", async () => {
    await putHistoryItem(fs.db, "u1", "h1");
    const t0 = Date.now();
    const remove = await enqueue(fs.db, { op: "remove", uid: "u1", historyId: "h1" }, t0);
    expect(await processMirrorTask(deps(), await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" }, t0 + 10))).toMatchObject({
      outcome: "published",
    });
    expect(await processMirrorTask(deps(), remove)).toMatchObject({ status: "done", outcome: "stale" });
    expect(await mirrorDoc(fs.db, "h1")).toBeDefined();
  });
});

describe("invalid tasks, retries and the dead letter", () => {
  it("fails an invalid payload at once, never retries it, and leaves the mirror alone", async () => {
    await putHistoryItem(fs.db, "u1", "h1");
    await processMirrorTask(deps(), await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" }));
    const before = await mirrorDoc(fs.db, "h1");
    const bad = await enqueue(fs.db, { op: "update", uid: "u1", historyId: "h1", updates: "prompt=hacked" });

    expect(await processMirrorTask(deps(), bad)).toMatchObject({ status: "invalid" });
    const task = await taskDoc(fs.db, bad);
    expect(task).toMatchObject({ status: "failed", deadLetter: true, attempts: 1 });
    expect(task.lastError).toContain("updates: updates must be a map of fields");
    expect(task.nextAttemptAt).toBeUndefined();
    expect(await mirrorDoc(fs.db, "h1")).toEqual(before);

    const clock = new ManualClock();
    clock.advance(24 * 3600_000);
    expect(await processMirrorTask(deps(clock), bad)).toMatchObject({ status: "skipped", reason: "dead-letter" });
    expect((await sweepMirrorQueue(deps(clock))).results.map((r) => r.taskId)).not.toContain(bad);
  });
});

describe("leases and fencing", () => {
  it("lets another worker take over a task whose lease ran out, and fences the old owner", async () => {
    await putHistoryItem(fs.db, "u1", "h1");
    const taskId = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" });
    // Worker A claimed the task and then stalled (its process froze) past the lease.
    const now = Date.now();
    const claimedByA = await fs.db
      .doc(`mirrorQueue/${taskId}`)
      .update({ status: "processing", attempts: 1, leaseOwner: "A:stalled", leaseExpiresAt: Timestamp.fromMillis(now - 1) });

    expect(await processMirrorTask(deps(), taskId)).toMatchObject({ status: "done", attempt: 2, outcome: "published" });

    // A wakes up and tries to record a failure: its lease is gone, so it writes nothing.
    const stale = { kind: "lease" as const, taskId, ref: fs.db.doc(`mirrorQueue/${taskId}`), leaseOwner: "A:stalled", attempt: 1 };
    expect(await recordFailure({ ...stale, version: claimedByA.writeTime }, "late", false, Date.now(), 5)).toEqual({ kind: "conflict" });
    expect(await taskDoc(fs.db, taskId)).toMatchObject({ status: "done", attempts: 2 });
  });

  it("hands a claimed task back to pending on shutdown, and the released claim can no longer commit", async () => {
    await putHistoryItem(fs.db, "u1", "h1");
    const taskId = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1", status: "pending", attempts: 0 });
    const snap = await fs.db.doc(`mirrorQueue/${taskId}`).get();
    const claimed = await claimTask(snap, "W:1", 1, Date.now(), 60_000);
    if (claimed.kind !== "written") throw new Error(`claim ${claimed.kind}`);
    const claim = claimed.value;
    expect(await taskDoc(fs.db, taskId)).toMatchObject({ status: "processing", attempts: 1, leaseOwner: "W:1" });

    expect(await releaseTask(claim)).toBe(true);
    const released = await taskDoc(fs.db, taskId);
    expect(released).toMatchObject({ status: "pending", attempts: 0 });
    expect(released.leaseOwner).toBeUndefined();
    expect(await recordFailure(claim, "late", false, Date.now(), 5)).toEqual({ kind: "conflict" });
    expect(await processMirrorTask(deps(), taskId)).toMatchObject({ status: "done", attempt: 1 });
  });

  it("does not take a task whose lease is still live", async () => {
    const taskId = await enqueue(fs.db, { op: "remove", uid: "u1", historyId: "h1" });
    await fs.db
      .doc(`mirrorQueue/${taskId}`)
      .update({ status: "processing", attempts: 1, leaseOwner: "B:live", leaseExpiresAt: Timestamp.fromMillis(Date.now() + 60_000) });
    expect(await processMirrorTask(deps(), taskId)).toMatchObject({ status: "skipped", reason: "leased" });
  });
});

describe("sweepMirrorQueue", () => {
  it("processes pending, status-less, retry-due and lease-expired tasks, and one failure does not stop the rest", async () => {
    const now = Date.now();
    for (const id of ["a", "b", "c", "d"]) await putHistoryItem(fs.db, "u1", id);
    const statusless = await enqueueRaw(fs.db, { op: "upsert", uid: "u1", historyId: "a", createdAt: Timestamp.fromMillis(now - 4000) });
    const pending = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "b", status: "pending", attempts: 0 }, now - 3000);
    const retryDue = await enqueue(
      fs.db,
      {
        op: "upsert",
        uid: "u1",
        historyId: "c",
        status: "failed",
        attempts: 1,
        deadLetter: false,
        nextAttemptAt: Timestamp.fromMillis(now - 1),
      },
      now - 2000,
    );
    const expired = await enqueue(
      fs.db,
      {
        op: "upsert",
        uid: "u1",
        historyId: "d",
        status: "processing",
        attempts: 1,
        leaseOwner: "x",
        leaseExpiresAt: Timestamp.fromMillis(now - 1),
      },
      now - 1000,
    );
    const invalid = await enqueue(fs.db, { op: "nonsense", uid: "u1", historyId: "e", status: "pending" }, now - 500);
    const notDue = await enqueue(fs.db, {
      op: "upsert",
      uid: "u1",
      historyId: "a",
      status: "failed",
      attempts: 1,
      deadLetter: false,
      nextAttemptAt: Timestamp.fromMillis(now + 60_000),
    });

    const report = await sweepMirrorQueue(deps(), { limit: 50 });

    expect(report.byStatus).toMatchObject({ done: 4, invalid: 1, failed: 0 });
    expect(report.results.map((r) => r.taskId).sort()).toEqual([statusless, pending, retryDue, expired, invalid].sort());
    expect(report.results.map((r) => r.taskId)).not.toContain(notDue);
    for (const id of ["a", "b", "c", "d"]) expect(await mirrorDoc(fs.db, id)).toBeDefined();
  });

  it("counts what the done tasks did to the mirror, by outcome", async () => {
    const now = Date.now();
    await putHistoryItem(fs.db, "u1", "pub");
    await putHistoryItem(fs.db, "u1", "priv", { isPublic: false });
    await putHistoryItem(fs.db, "u1", "upd");
    await fs.db.doc("publicGenerations/upd").set({ uid: "u1", historyId: "upd", prompt: "old" });
    await fs.db.doc("publicGenerations/gone").set({ uid: "u1", historyId: "gone" });
    await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "pub" }, now - 5000);
    await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "priv" }, now - 4000);
    await enqueue(fs.db, { op: "update", uid: "u1", historyId: "upd", updates: { prompt: "new" } }, now - 3000);
    await enqueue(fs.db, { op: "update", uid: "u1", historyId: "never", updates: { prompt: "x" } }, now - 2000);
    await enqueue(fs.db, { op: "remove", uid: "u1", historyId: "gone" }, now - 1000);

    const report = await sweepMirrorQueue(deps(), { limit: 50 });

    expect(report.byStatus.done).toBe(5);
    expect(report.byOutcome).toEqual({ published: 1, unpublished: 1, updated: 1, "not-mirrored": 1, removed: 1, stale: 0 });
  });

  it("takes at most `limit` tasks a run, and the next run takes the rest", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await enqueue(fs.db, { op: "remove", uid: "u1", historyId: `h${i}` }));
    const first = (await sweepMirrorQueue(deps(), { limit: 3 })).results.map((r) => r.taskId);
    const second = (await sweepMirrorQueue(deps(), { limit: 3 })).results.map((r) => r.taskId);
    expect(first).toHaveLength(3);
    expect([...first, ...second].sort()).toEqual([...ids].sort());
  });
});
