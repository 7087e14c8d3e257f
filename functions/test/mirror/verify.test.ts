import { FieldValue } from "firebase-admin/firestore";
import { runBackfill } from "../../src/core/mirror/backfill";
import { docSize, MAX_DOC_BYTES } from "../../src/core/mirror/docSize";
import { processMirrorTask } from "../../src/core/mirror/processMirrorTask";
import { verifyMirror, type VerifyOptions } from "../../src/core/mirror/verify";
import type { ProgressEvent } from "../../src/core/progress";
import { failingCounts } from "../harness/countFaults";
import { memoryLogger, testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { mirrorMismatches } from "../harness/mirrorCheck";
import { enqueue, historyItem, putHistoryItem, putUser } from "../harness/mirrorData";

/** The drift report on the emulator: each kind of drift planted is found, nothing else is, and a repair leaves none. */
let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("verify");
});
beforeEach(() => fs.clear());
afterAll(() => fs.close());

const deps = () => testDeps(fs.db);
const apply = (taskId: string) => processMirrorTask(deps(), taskId, { workerId: "test" });
const verify = (options: VerifyOptions = {}) => verifyMirror(deps(), { rate: 5000, pageSize: 7, ...options });

/** 30 items of two users mirrored by the queue (a backfill), all in sync; 5 private ones not mirrored. */
async function inSyncBase(): Promise<void> {
  await putUser(fs.db, "u1");
  await putUser(fs.db, "u2");
  for (let i = 0; i < 30; i++) await putHistoryItem(fs.db, i % 2 ? "u1" : "u2", `h${i}`, i % 6 === 5 ? { isPublic: false } : {});
  const report = await runBackfill(deps(), { rate: 5000, apply });
  expect(report.tasks.applied!.byStatus).toEqual({ done: 25 });
}

const item = (path: string) => fs.db.doc(path);
const mirror = (id: string) => fs.db.doc(`publicGenerations/${id}`);

/** One of each repairable kind of drift, and look-alikes that are not drift. */
async function plantRepairable(): Promise<void> {
  await mirror("h0").delete(); // missing
  await mirror("h2").update({ prompt: "edited in the console" }); // differs: prompt
  await mirror("h4").update({ internalNote: "leaked" }); // differs: a field that is not a mirror field
  await item("generationHistory/u2/items/h6").update({ isPublic: false }); // sourcePrivate
  await item("generationHistory/u2/items/h8").update({ isDeleted: true }); // sourceDeleted
  await item("generationHistory/u2/items/h10").delete(); // sourceGone
  // Not drift: an optimization field on the mirror only (kept by the smart merge), an item in another `items` collection.
  await mirror("h14").update({
    images: [{ id: "h14-img0", url: "https://cdn.example/h14/0.png", storagePath: "u/u2/h14/0.png", thumbnailUrl: "https://cdn/t.png" }],
  });
  await fs.db.doc("carts/c1/items/x").set(historyItem("u1", "x"));
}

/** The kinds no task can fix. */
async function plantUnrepairable(): Promise<void> {
  await fs.db.doc("generationHistory/u3/items/h1").set(historyItem("u3", "h1")); // conflict: h1's mirror is u1's
  await mirror("ghost").set({ prompt: "no owner" }); // unowned
  await mirror("h12").update({ uid: 7 }); // unowned: no task may touch a mirror doc without a usable uid, even its item's
  // tooLarge: a public item whose mirror doc would pass 1 MiB (the rules bound no field's size).
  // The source fits (Firestore took it), 40 bytes short of the limit; its mirror doc adds uid, createdBy and bookkeeping.
  const path = "generationHistory/u3/items/huge";
  const room = MAX_DOC_BYTES - docSize(path, historyItem("u3", "huge", { prompt: "" })) - 40;
  await fs.db.doc(path).set(historyItem("u3", "huge", { prompt: "p".repeat(room) }));
}

const ids = (sample: { uid: string | null; historyId: string }[]) => sample.map((e) => `${e.uid}/${e.historyId}`).sort();

describe("verify", () => {
  it("reports in sync when the mirror is the projection of the sources", async () => {
    await inSyncBase();
    const report = await verify();
    expect(report).toMatchObject({
      inSync: true,
      complete: true,
      driftCount: 0,
      matching: 25,
      notPublic: 5,
      scanned: { historyItems: 30, mirrorDocs: 25 },
    });
  });

  it("finds each planted kind of drift, with a sample naming the item, and nothing else", async () => {
    await inSyncBase();
    await plantRepairable();
    await plantUnrepairable();
    const r = await verify();
    expect(r).toMatchObject({
      inSync: false,
      complete: true,
      driftCount: 8,
      unpublishable: 2,
      notPublic: 5,
      scanned: { historyItems: 31, notHistoryItems: 0 },
    });
    const found = Object.fromEntries(Object.entries(r.drift).map(([kind, { count, sample }]) => [kind, { count, ids: ids(sample) }]));
    expect(found).toEqual({
      missing: { count: 1, ids: ["u2/h0"] },
      differs: { count: 2, ids: ["u2/h2", "u2/h4"] },
      sourcePrivate: { count: 1, ids: ["u2/h6"] },
      sourceDeleted: { count: 1, ids: ["u2/h8"] },
      sourceGone: { count: 1, ids: ["u2/h10"] },
      conflict: { count: 1, ids: ["u3/h1"] },
      tooLarge: { count: 1, ids: ["u3/huge"] },
      unowned: { count: 2, ids: ["null/ghost", "u2/h12"] },
    });
    const fieldsOf = (id: string) => r.drift.differs.sample.find((e) => e.historyId === id)!.fields;
    expect([fieldsOf("h2"), fieldsOf("h4")]).toEqual([["prompt"], ["internalNote"]]);
    expect(r.drift.conflict.sample[0].owner).toBe("u1");
    expect((await fs.db.collection("mirrorQueue").get()).size).toBe(25); // the base's tasks only: a verify enqueues nothing
  });

  it("--repair enqueues one upsert per fixable item; then verify reports 0", async () => {
    await inSyncBase();
    await plantRepairable();
    const repaired = await verify({ repair: true, apply });
    expect(repaired.driftCount).toBe(6);
    expect(repaired.repair).toMatchObject({ enqueued: 6, alreadyEnqueued: 0, unrepairable: 0, notDone: [] });
    expect(repaired.repair!.applied!.byOutcome).toEqual({ published: 3, unpublished: 3 });
    const after = await verify();
    expect(after).toMatchObject({ inSync: true, driftCount: 0 });
    expect(await mirrorMismatches(fs.db)).toEqual([]);
  });

  it("--repair leaves a conflict, an oversized item and unowned mirror docs to an operator, enqueues no task for them, and says so", async () => {
    await inSyncBase();
    await plantUnrepairable();
    const repaired = await verify({ repair: true, apply });
    expect(repaired.repair).toMatchObject({ enqueued: 0, unrepairable: 4 });
    const after = await verify({ repair: true, apply });
    expect(after).toMatchObject({
      inSync: false,
      driftCount: 2,
      unpublishable: 2,
      drift: { conflict: { count: 1 }, tooLarge: { count: 1 }, unowned: { count: 2 } },
    });
    expect(after.repair).toMatchObject({ enqueued: 0, unrepairable: 4 });
    expect((await fs.db.collection("mirrorQueue").where("historyId", "==", "huge").get()).size).toBe(0);
    // The unowned docs fixed by hand (h12 published again by its item's upsert): in sync, the items the mirror cannot hold still listed.
    await mirror("ghost").delete();
    await mirror("h12").delete();
    await apply(await enqueue(fs.db, { op: "upsert", uid: "u2", historyId: "h12" }));
    expect(await verify()).toMatchObject({ inSync: true, driftCount: 0, unpublishable: 2 });
  });

  it("a mirror doc whose uid is a string but no usable id (a hand edit, a bug) is unowned drift, whether its item is private or public", async () => {
    await inSyncBase();
    // h5 is u1's PRIVATE item: a mirror doc of it that names no usable owner is still published, and must be reported.
    await mirror("h5").set({ ...(await mirror("h1").get()).data(), historyId: "h5", prompt: "prompt h5", uid: "" });
    // h3 is u1's public item: its mirror doc with a path for a uid is no other user's, so no conflict, and no task may touch it.
    await mirror("h3").update({ uid: "u1/h3" });
    const r = await verify({ repair: true, apply });
    expect(r).toMatchObject({ inSync: false, driftCount: 2, unpublishable: 0, repair: { enqueued: 0, unrepairable: 2 } });
    expect(ids(r.drift.unowned.sample)).toEqual(["u1/h3", "u1/h5"]);
    expect(r.drift.conflict.count).toBe(0);
  });

  it("a PRIVATE or deleted item whose historyId another user's public item holds is not drift: not public, in sync", async () => {
    await inSyncBase();
    await putHistoryItem(fs.db, "attacker", "h1", { isPublic: false });
    await putHistoryItem(fs.db, "attacker2", "h3", { isDeleted: true });
    const r = await verify({ repair: true, apply });
    expect(r).toMatchObject({ inSync: true, driftCount: 0, unpublishable: 0, notPublic: 7, repair: { enqueued: 0, unrepairable: 0 } });
    expect(r.drift.conflict.count).toBe(0);
    expect((await fs.db.doc("publicGenerations/h1").get()).get("uid")).toBe("u1");
  });

  it("a PUBLIC item colliding with another user's mirrored item is a conflict, reported but not failing: no user can keep verify failing", async () => {
    await inSyncBase();
    await putHistoryItem(fs.db, "attacker", "h1");
    const r = await verify({ repair: true, apply });
    expect(r).toMatchObject({ inSync: true, driftCount: 0, unpublishable: 1, repair: { enqueued: 0, unrepairable: 1 } });
    expect(r.drift.conflict.sample).toEqual([{ uid: "attacker", historyId: "h1", owner: "u1" }]);
    expect((await fs.db.doc("publicGenerations/h1").get()).get("uid")).toBe("u1");
  });

  it("a repair without `apply` leaves its tasks to the queue, which makes the mirror right", async () => {
    await inSyncBase();
    await mirror("h0").delete();
    await mirror("h2").update({ prompt: FieldValue.delete() });
    const repaired = await verify({ repair: true });
    expect(repaired.repair).toMatchObject({ enqueued: 2 });
    expect(repaired.repair!.applied).toBeUndefined();
    const pending = await fs.db.collection("mirrorQueue").where("status", "==", "pending").get();
    expect(pending.docs.map((d) => d.get("historyId")).sort()).toEqual(["h0", "h2"]);
    for (const d of pending.docs) await apply(d.id);
    expect(await verify()).toMatchObject({ inSync: true });
  });

  it("progress totals Firestore cannot count (past its deadline over millions of docs) do not fail the run: no totals, warnings", async () => {
    await inSyncBase();
    const logger = memoryLogger();
    const events: ProgressEvent[] = [];
    const r = await verifyMirror(testDeps(failingCounts(fs.db), { logger }), {
      rate: 5000,
      pageSize: 7,
      onProgress: (e) => events.push(e),
    });
    expect(r).toMatchObject({ inSync: true, complete: true, scanned: { historyItems: 30, mirrorDocs: 25 } });
    expect(events.filter((e) => e.total !== undefined)).toEqual([]);
    expect(events.at(-1)).toMatchObject({ phase: "mirror docs", done: 25 });
    const warned = logger.entries.filter((e) => e.message === "progress.total_failed").map((e) => e.phase);
    expect(warned).toEqual(["history items", "mirror docs"]);
  });

  it("stopped by its signal, it is incomplete and never says in sync", async () => {
    await inSyncBase();
    const controller = new AbortController();
    const r = await verify({ signal: controller.signal, onProgress: () => controller.abort() });
    expect(r).toMatchObject({
      inSync: false,
      complete: false,
      stoppedBy: "signal",
      driftCount: 0,
      scanned: { historyItems: 7, mirrorDocs: 0 },
    });
  });
});
