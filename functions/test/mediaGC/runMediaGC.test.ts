import type { S3Client } from "@aws-sdk/client-s3";
import { FieldValue, Timestamp } from "firebase-admin/firestore";
import { collectMediaBatch, mediaGCQuery, runMediaGC, type MediaGCDeps, type MediaGCReport } from "../../src/core/mediaGC/runMediaGC";
import { S3MediaStore, type MediaStore } from "../../src/core/storage/mediaStore";
import { createS3Client } from "../../src/core/storage/s3Client";
import { startS3Server, type TestS3Server } from "../../dev/s3Server";
import { memoryLogger, testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { DAY, mediaExists, objectExists, putMedia } from "../harness/media";

let fs: TestFirestore;
let server: TestS3Server;
let s3: S3Client;
let store: S3MediaStore;
beforeAll(async () => {
  fs = createTestFirestore("mediagc");
  server = await startS3Server("media");
  s3 = createS3Client(server.config, { maxAttempts: 2 });
  store = new S3MediaStore(s3, server.bucket);
});
beforeEach(() => fs.clear());
afterAll(async () => {
  s3.destroy();
  await server.dispose();
  await fs.close();
});

const gcDeps = (over: Partial<MediaGCDeps> = {}): MediaGCDeps => ({ ...testDeps(fs.db), store, ...over });
const put = (id: string, opts: Parameters<typeof putMedia>[4]) => putMedia(fs.db, s3, server.bucket, id, opts);
const exists = async (id: string, key: string) => ({ record: await mediaExists(fs.db, id), object: await objectExists(s3, server.bucket, key) });

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
  expect(report.durationMs).toBeGreaterThanOrEqual(0);
});

it("dry run changes nothing and reports exactly the eligible set with sizes and ages", async () => {
  await put("a", { ageDays: 40, size: 10 });
  await put("b", { ageDays: 60, size: 20 });
  await put("kept", { ageDays: 60, refs: 1 });
  await put("new", { ageDays: 1 });
  const before = (await fs.db.collection("canvasMedia").get()).docs.map((d) => [d.id, d.updateTime.toMillis()]);

  const report = await runMediaGC(gcDeps(), { ttlDays: 30, dryRun: true, batchSize: 1 });

  expect(report).toMatchObject({ dryRun: true, deleted: 0, bytesFreed: 30 });
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

it("storage stopped mid-run: no record whose object still exists is deleted, failures are reported, a later run finishes", async () => {
  const keys: Record<string, string> = {};
  for (let i = 0; i < 6; i++) keys[`m${i}`] = await put(`m${i}`, { ageDays: 40 + i });
  // The real server goes down right after the first batch's objects are deleted.
  const stopAfterFirst: MediaStore = {
    deleteObjects: async (k) => {
      const result = await store.deleteObjects(k);
      await server.stop();
      return result;
    },
  };
  const logger = memoryLogger();
  const report = await runMediaGC({ ...gcDeps(), store: stopAfterFirst, logger }, { ttlDays: 30, batchSize: 2 });

  expect(report.deleted).toBe(2);
  expect(report.failed).toHaveLength(4);
  expect(report.failed[0].reason).toMatch(/storage unavailable/);
  expect(logger.entries.filter((e) => e.message === "mediaGC.item_failed")).toHaveLength(4);
  const failedIds = report.failed.map((f) => f.id);
  for (const id of Object.keys(keys)) expect(await mediaExists(fs.db, id)).toBe(failedIds.includes(id));
  await server.start();
  // Every record that went had its object deleted first; every record that stayed still has its object.
  for (const [id, key] of Object.entries(keys)) expect(await objectExists(s3, server.bucket, key)).toBe(failedIds.includes(id));

  // Their marks expire; a later run (a day later) finishes the job.
  const later = { now: () => Date.now() + DAY };
  const second = await runMediaGC({ ...gcDeps(), clock: later }, { ttlDays: 30, batchSize: 2 });
  expect(second).toMatchObject({ deleted: 4, failed: [] });
  for (const [id, key] of Object.entries(keys)) expect(await exists(id, key)).toEqual({ record: false, object: false });
});

it("keeps, with its object, an item whose referencedByCount rises between the query and the deletion", async () => {
  const key = await put("raced", { ageDays: 40 });
  const other = await put("other", { ageDays: 40 });
  const page = await mediaGCQuery(fs.db, Timestamp.fromMillis(Date.now() - 30 * DAY), 10).get();
  expect(page.docs.map((d) => d.id).sort()).toEqual(["other", "raced"]);
  // The app adds a reference after the GC read its candidates.
  await fs.db.doc("canvasMedia/raced").update({ referencedByCount: FieldValue.increment(1) });

  const report: MediaGCReport = { runId: "r", dryRun: false, ttlDays: 30, scanned: 2, deleted: 0, failed: [], skipped: {}, bytesFreed: 0, batches: 1, complete: true, durationMs: 0 };
  await collectMediaBatch(gcDeps(), page.docs, "r", report, memoryLogger());

  expect(report).toMatchObject({ deleted: 1, skipped: { "changed-since-read": 1 } });
  expect(await exists("raced", key)).toEqual({ record: true, object: true });
  expect((await fs.db.doc("canvasMedia/raced").get()).get("gcState")).toBeUndefined();
  expect(await exists("other", other)).toEqual({ record: false, object: false });
});

it("two runs at once: no item deleted twice, neither fails, everything eligible goes", async () => {
  const ids = Array.from({ length: 40 }, (_, i) => `c${i}`);
  for (const id of ids) await put(id, { ageDays: 35 });
  const [a, b] = await Promise.all([runMediaGC(gcDeps(), { ttlDays: 30, batchSize: 10 }), runMediaGC(gcDeps(), { ttlDays: 30, batchSize: 10 })]);
  expect(a.failed).toEqual([]);
  expect(b.failed).toEqual([]);
  expect(a.deleted + b.deleted).toBe(40);
  expect((await fs.db.collection("canvasMedia").get()).size).toBe(0);
});

it("clears a backlog of 1,200 eligible items in one run, batch after batch", async () => {
  const writer = fs.db.bulkWriter();
  const created = Timestamp.fromMillis(Date.now() - 40 * DAY);
  for (let i = 0; i < 1200; i++) {
    writer.set(fs.db.doc(`canvasMedia/b${i}`), { ownerUid: "o", storageKey: `backlog/b${i}`, referencedByCount: 0, createdAt: created, size: 1 });
  }
  for (let i = 0; i < 5; i++) writer.set(fs.db.doc(`canvasMedia/keep${i}`), { ownerUid: "o", storageKey: `backlog/keep${i}`, referencedByCount: 1, createdAt: created });
  await writer.close();

  const report = await runMediaGC(gcDeps(), { ttlDays: 30, batchSize: 500 });

  expect(report).toMatchObject({ deleted: 1200, failed: [], complete: true, batches: 3, bytesFreed: 1200 });
  expect((await fs.db.collection("canvasMedia").get()).docs.map((d) => d.id).sort()).toEqual(["keep0", "keep1", "keep2", "keep3", "keep4"]);
});

it("stops starting batches when its time budget is spent, and says so", async () => {
  for (let i = 0; i < 4; i++) await put(`t${i}`, { ageDays: 40 });
  let calls = 0;
  const clock = { now: () => Date.now() + (calls++ > 2 ? 60_000 : 0) };
  const report = await runMediaGC({ ...gcDeps(), clock }, { ttlDays: 30, batchSize: 1, timeBudgetMs: 30_000 });
  expect(report.complete).toBe(false);
  expect(report.deleted).toBeLessThan(4);
});

it("refuses out-of-range options before touching anything", async () => {
  await expect(runMediaGC(gcDeps(), { ttlDays: -1 })).rejects.toThrow("ttlDays must be an integer >= 1");
  await expect(runMediaGC(gcDeps(), { batchSize: 1_000_000 })).rejects.toThrow("batchSize must be an integer from 1 to 1000");
});
