import type { S3Client } from "@aws-sdk/client-s3";
import { FieldValue, Timestamp } from "firebase-admin/firestore";
import { collectMediaBatch } from "../../src/core/mediaGC/collectBatch";
import { mediaGCQuery, runMediaGC, type MediaGCDeps, type MediaGCReport } from "../../src/core/mediaGC/runMediaGC";
import { S3MediaStore, type MediaStore } from "../../src/core/storage/mediaStore";
import { createS3Client } from "../../src/core/storage/s3Client";
import { startS3Server, type TestS3Server } from "../../dev/s3Server";
import { ManualClock, memoryLogger, testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { DAY, mediaExists, objectExists, putMedia } from "../harness/media";

let fs: TestFirestore;
let server: TestS3Server;
let s3: S3Client;
let store: S3MediaStore;
beforeAll(async () => {
  fs = createTestFirestore("mediagc");
  server = await startS3Server("media");
  s3 = createS3Client(server.config);
  store = new S3MediaStore(createS3Client(server.config, { maxAttempts: 1 }), server.bucket, { attempts: 2 });
});
beforeEach(() => fs.clear());
afterAll(async () => {
  s3.destroy();
  await server.dispose();
  await fs.close();
});

const gcDeps = (over: Partial<MediaGCDeps> = {}): MediaGCDeps => ({ ...testDeps(fs.db), store, ...over });
const put = (id: string, opts: Parameters<typeof putMedia>[4]) => putMedia(fs.db, s3, server.bucket, id, opts);
const exists = async (id: string, key: string) => ({
  record: await mediaExists(fs.db, id),
  object: await objectExists(s3, server.bucket, key),
});

it("deletes eligible media from both stores and keeps referenced or young media", async () => {
  const old = await put("old", { ageDays: 45, size: 2048 });
  const edge = await put("edge", { ageDays: 31, size: 100 });
  const referenced = await put("referenced", { ageDays: 90, refs: 2 });
  const young = await put("young", { ageDays: 29 });

  const report = await runMediaGC(gcDeps(), { ttlDays: 30 });

  expect(report).toMatchObject({ dryRun: false, deleted: 2, failed: [], bytesFreed: 2148, complete: true });
  expect(await exists("old", old)).toEqual({ record: false, object: false });
  expect(await exists("edge", edge)).toEqual({ record: false, object: false });
  expect(await exists("referenced", referenced)).toEqual({ record: true, object: true });
  expect(await exists("young", young)).toEqual({ record: true, object: true });
});

it("dry run changes nothing and reports exactly the eligible set with sizes and ages", async () => {
  await put("a", { ageDays: 40, size: 10 });
  await put("b", { ageDays: 60, size: 20 });
  await put("kept", { ageDays: 60, refs: 1 });
  await put("new", { ageDays: 1 });
  const before = (await fs.db.collection("canvasMedia").get()).docs.map((d) => [d.id, d.updateTime.toMillis()]);

  const report = await runMediaGC(gcDeps(), { ttlDays: 30, dryRun: true, batchSize: 1 });

  expect(report).toMatchObject({ dryRun: true, bytesFreed: 30 });
  // A dry run's report has no counts of a real run's: nothing reads as deleted or failed.
  expect(Object.keys(report)).not.toEqual(expect.arrayContaining(["deleted"]));
  expect(Object.keys(report)).not.toEqual(expect.arrayContaining(["failed"]));
  expect(report.candidates!.sort((x, y) => x.id.localeCompare(y.id))).toEqual([
    { id: "a", storageKey: "canvas/owner/a.png", size: 10, ageDays: 40 },
    { id: "b", storageKey: "canvas/owner/b.png", size: 20, ageDays: 60 },
  ]);
  expect((await fs.db.collection("canvasMedia").get()).docs.map((d) => [d.id, d.updateTime.toMillis()])).toEqual(before);
  for (const id of ["a", "b", "kept", "new"]) expect(await objectExists(s3, server.bucket, `canvas/owner/${id}.png`)).toBe(true);
});

it("counts an object that is already missing as deleted", async () => {
  await put("ghost", { ageDays: 40, withObject: false });
  const report = await runMediaGC(gcDeps(), { ttlDays: 30 });
  expect(report).toMatchObject({ deleted: 1, failed: [] });
  expect(await mediaExists(fs.db, "ghost")).toBe(false);
});

it("storage stops mid-run: the run stops, keeps every record whose object exists, releases its marks, and a run right after the outage finishes", async () => {
  const keys: Record<string, string> = {};
  for (let i = 0; i < 6; i++) keys[`m${i}`] = await put(`m${i}`, { ageDays: 40 + i });
  // The real server goes down right after the first batch's objects are deleted.
  const stopAfterFirst: MediaStore = {
    deleteObjects: async (k, o) => {
      const result = await store.deleteObjects(k, o);
      await server.stop();
      return result;
    },
  };
  const logger = memoryLogger();
  let report;
  try {
    report = await runMediaGC({ ...gcDeps(), store: stopAfterFirst, logger }, { ttlDays: 30, batchSize: 2 });
  } finally {
    await server.start();
  }

  // The second batch meets the outage (connection refused); the run stops instead of marking the rest.
  expect(report).toMatchObject({ deleted: 2, complete: false, batches: 2 });
  expect(report.stoppedBy).toMatch(/^storage failed: .*ECONNREFUSED/);
  expect(report.failed).toHaveLength(2);
  expect(report.failed[0].reason).toMatch(/^storage request failed: .*ECONNREFUSED/);
  expect(logger.entries.filter((e) => e.message === "mediaGC.item_failed")).toHaveLength(2);
  expect(logger.entries.find((e) => e.message === "mediaGC.storage_failed")).toMatchObject({
    severity: "ERROR",
    nothingDeleted: true,
    error: { stack: expect.any(String) },
  });
  const failedIds = report.failed.map((f) => f.id);
  // The refused request deleted nothing: the run released its marks entirely (the app may reference them again).
  for (const id of failedIds) {
    const data = (await fs.db.doc(`canvasMedia/${id}`).get()).data()!;
    expect({ id, gcState: data.gcState, gcMarkedAt: data.gcMarkedAt, gcRunId: data.gcRunId }).toEqual({
      id,
      gcState: undefined,
      gcMarkedAt: undefined,
      gcRunId: undefined,
    });
    expect(data.gcLastError).toMatch(/ECONNREFUSED/);
  }
  // Every record that went had its object deleted first; every record that stayed (failed or not reached) still has its object.
  const states = await Promise.all(Object.entries(keys).map(async ([id, key]) => ({ id, ...(await exists(id, key)) })));
  for (const { id, record, object } of states) expect({ id, object }).toEqual({ id, object: record });
  expect(states.filter((s) => !s.record)).toHaveLength(2);
  for (const id of failedIds) expect(states.find((s) => s.id === id)).toMatchObject({ record: true, object: true });

  // A run started right after the outage (same clock, no lease to wait out) finishes the job.
  const second = await runMediaGC(gcDeps(), { ttlDays: 30, batchSize: 2 });
  expect(second).toMatchObject({ deleted: 4, failed: [], complete: true, skipped: {} });
  for (const [id, key] of Object.entries(keys)) expect(await exists(id, key)).toEqual({ record: false, object: false });
});

it("releases only its own marks: an item another run re-marked meanwhile keeps that run's mark", async () => {
  await put("mine", { ageDays: 40 });
  await put("taken", { ageDays: 40 });
  await server.stop();
  const otherMark = { gcState: "deleting", gcRunId: "other-run", gcMarkedAt: Timestamp.now() };
  // Another run takes "taken" over while this run's request is on its way to the stopped server.
  const takenOver: MediaStore = {
    deleteObjects: async (k, o) => {
      await fs.db.doc("canvasMedia/taken").update(otherMark);
      return store.deleteObjects(k, o);
    },
  };
  try {
    const report = await runMediaGC({ ...gcDeps(), store: takenOver }, { ttlDays: 30 });
    expect(report.failed.map((f) => f.id).sort()).toEqual(["mine", "taken"]);
  } finally {
    await server.start();
  }
  expect((await fs.db.doc("canvasMedia/mine").get()).get("gcRunId")).toBeUndefined();
  expect((await fs.db.doc("canvasMedia/taken").get()).data()).toMatchObject(otherMark);
});

it("keeps, with its object, an item whose referencedByCount rises between the query and the deletion", async () => {
  const key = await put("raced", { ageDays: 40 });
  const other = await put("other", { ageDays: 40 });
  const page = await mediaGCQuery(fs.db, Timestamp.fromMillis(Date.now() - 30 * DAY), 10).get();
  expect(page.docs.map((d) => d.id).sort()).toEqual(["other", "raced"]);
  // The app adds a reference after the GC read its candidates.
  await fs.db.doc("canvasMedia/raced").update({ referencedByCount: FieldValue.increment(1) });

  const report: MediaGCReport = {
    runId: "r",
    dryRun: false,
    ttlDays: 30,
    scanned: 2,
    deleted: 0,
    failed: [],
    failedCount: 0,
    skipped: {},
    sharedObjectsKept: 0,
    bytesFreed: 0,
    batches: 1,
    complete: true,
    durationMs: 0,
  };
  await collectMediaBatch({ ...gcDeps(), runId: "r", report, logger: memoryLogger(), deadlineMs: Date.now() + 60_000 }, page.docs);

  expect(report).toMatchObject({ deleted: 1, skipped: { "changed-since-read": 1 } });
  expect(await exists("raced", key)).toEqual({ record: true, object: true });
  expect((await fs.db.doc("canvasMedia/raced").get()).get("gcState")).toBeUndefined();
  expect(await exists("other", other)).toEqual({ record: false, object: false });
});

it("two runs at once: no item deleted twice, neither fails, everything eligible goes", async () => {
  const ids = Array.from({ length: 40 }, (_, i) => `c${i}`);
  for (const id of ids) await put(id, { ageDays: 35 });
  const [a, b] = await Promise.all([
    runMediaGC(gcDeps(), { ttlDays: 30, batchSize: 10 }),
    runMediaGC(gcDeps(), { ttlDays: 30, batchSize: 10 }),
  ]);
  expect(a.failed).toEqual([]);
  expect(b.failed).toEqual([]);
  expect(a.deleted + b.deleted).toBe(40);
  expect((await fs.db.collection("canvasMedia").get()).size).toBe(0);
});

it("clears a backlog of 1,200 eligible items in one run, batch after batch", async () => {
  const writer = fs.db.bulkWriter();
  const created = Timestamp.fromMillis(Date.now() - 40 * DAY);
  for (let i = 0; i < 1200; i++) {
    writer.set(fs.db.doc(`canvasMedia/b${i}`), {
      ownerUid: "o",
      storageKey: `backlog/b${i}`,
      referencedByCount: 0,
      createdAt: created,
      size: 1,
    });
  }
  for (let i = 0; i < 5; i++)
    writer.set(fs.db.doc(`canvasMedia/keep${i}`), {
      ownerUid: "o",
      storageKey: `backlog/keep${i}`,
      referencedByCount: 1,
      createdAt: created,
    });
  await writer.close();

  const report = await runMediaGC(gcDeps(), { ttlDays: 30, batchSize: 500 });

  expect(report).toMatchObject({ deleted: 1200, failed: [], complete: true, batches: 3, bytesFreed: 1200 });
  expect((await fs.db.collection("canvasMedia").get()).docs.map((d) => d.id).sort()).toEqual(["keep0", "keep1", "keep2", "keep3", "keep4"]);
});

it("stops starting batches when its time budget is spent, and says so", async () => {
  for (let i = 0; i < 4; i++) await put(`t${i}`, { ageDays: 40 });
  const clock = new ManualClock();
  // The first batch takes a minute by the run's clock, twice its budget.
  const onProgress = () => clock.advance(60_000);
  const report = await runMediaGC({ ...gcDeps(), clock }, { ttlDays: 30, batchSize: 1, timeBudgetMs: 30_000, onProgress });
  expect(report).toMatchObject({ complete: false, stoppedBy: "time budget spent", batches: 1, deleted: 1 });
  expect((await fs.db.collection("canvasMedia").get()).size).toBe(3);
});

it("refuses out-of-range options before touching anything", async () => {
  await expect(runMediaGC(gcDeps(), { ttlDays: -1 })).rejects.toThrow("ttlDays must be an integer >= 1");
  await expect(runMediaGC(gcDeps(), { batchSize: 1_000_000 })).rejects.toThrow("batchSize must be an integer from 1 to 1000");
});

describe("media docs sharing one storageKey", () => {
  const shared = "canvas/shared/one.png";

  it.each([
    ["referenced", { refs: 1, ageDays: 90 }],
    ["not yet eligible (young)", { refs: 0, ageDays: 2 }],
  ])("keeps the object another doc still names (%s); deletes only the garbage record", async (_label, other) => {
    await put("garbage", { ageDays: 60, storageKey: shared, size: 500 });
    await put("other", { ...other, storageKey: shared, withObject: false });

    const report = await runMediaGC(gcDeps(), { ttlDays: 30 });

    expect(await objectExists(s3, server.bucket, shared)).toBe(true);
    expect(report).toMatchObject({ deleted: 1, sharedObjectsKept: 1, bytesFreed: 0, failed: [] });
    expect(await mediaExists(fs.db, "garbage")).toBe(false);
    expect(await mediaExists(fs.db, "other")).toBe(true);
  });

  it("deletes the object with the last record that names it, in one batch or across batches", async () => {
    await put("a1", { ageDays: 60, storageKey: "canvas/shared/a.png" });
    await put("a2", { ageDays: 61, storageKey: "canvas/shared/a.png", withObject: false });
    const inOne = await runMediaGC(gcDeps(), { ttlDays: 30, batchSize: 10 });
    expect(inOne).toMatchObject({ deleted: 2, sharedObjectsKept: 0, failed: [] });
    expect(await objectExists(s3, server.bucket, "canvas/shared/a.png")).toBe(false);

    await put("b1", { ageDays: 60, storageKey: "canvas/shared/b.png" });
    await put("b2", { ageDays: 61, storageKey: "canvas/shared/b.png", withObject: false });
    const across = await runMediaGC(gcDeps(), { ttlDays: 30, batchSize: 1 });
    expect(across).toMatchObject({ deleted: 2, sharedObjectsKept: 1, failed: [] });
    expect(await objectExists(s3, server.bucket, "canvas/shared/b.png")).toBe(false);
    expect((await fs.db.collection("canvasMedia").get()).size).toBe(0);
  });

  it("waits while another run is deleting a doc with the same key: releases its mark, keeps record and object", async () => {
    await put("mine", { ageDays: 60, storageKey: shared });
    await put("theirs", { ageDays: 2, storageKey: shared, withObject: false });
    await fs.db.doc("canvasMedia/theirs").update({ gcState: "deleting", gcRunId: "other-run", gcMarkedAt: Timestamp.now() });

    const report = await runMediaGC(gcDeps(), { ttlDays: 30 });

    expect(await exists("mine", shared)).toEqual({ record: true, object: true });
    expect(report).toMatchObject({ deleted: 0, skipped: { "shared-key-busy": 1 }, failed: [] });
    expect((await fs.db.doc("canvasMedia/mine").get()).get("gcState")).toBeUndefined();
  });
});
