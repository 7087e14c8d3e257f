import type { S3Client } from "@aws-sdk/client-s3";
import { runMediaGC, type MediaGCDeps } from "../../src/core/mediaGC/runMediaGC";
import { GC_MAX_KEY_FAILURES } from "../../src/core/mediaGC/eligibility";
import type { StorageConfig } from "../../src/core/config";
import { S3MediaStore } from "../../src/core/storage/mediaStore";
import { createS3Client } from "../../src/core/storage/s3Client";
import { startS3Server, type TestS3Server } from "../../dev/s3Server";
import { memoryLogger, testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { mediaExists, objectExists, putMedia } from "../harness/media";
import { startStorageFaultProxy, type StorageFaultProxy } from "../harness/storageFaultProxy";

/**
 * The GC against what real S3-compatible providers do: s3rver itself (it trims keys and turns
 * \r into \n when it parses a DeleteObjects body), and, where s3rver cannot show a behaviour, a
 * STORAGE FAULT PROXY in front of s3rver (test/harness/storageFaultProxy.ts): a store that
 * refuses DeleteObjects without Content-MD5, one that never answers, one whose answer leaves a
 * key out. Firestore is the real emulator.
 */
let fs: TestFirestore;
let server: TestS3Server;
let s3: S3Client;
const proxies: StorageFaultProxy[] = [];
const clients: S3Client[] = [];
beforeAll(async () => {
  fs = createTestFirestore("gcfaults");
  server = await startS3Server("media");
  s3 = createS3Client(server.config);
});
beforeEach(() => fs.clear());
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const p of proxies.splice(0)) await p.close();
});
afterAll(async () => {
  s3.destroy();
  await server.dispose();
  await fs.close();
});

function storeFor(config: StorageConfig, maxAttempts?: number): S3MediaStore {
  const client = createS3Client(config, { maxAttempts });
  clients.push(client);
  return new S3MediaStore(client, config.ZATA_BUCKET);
}
async function proxy(fault: Parameters<typeof startStorageFaultProxy>[1]): Promise<StorageFaultProxy> {
  const p = await startStorageFaultProxy(server, fault);
  proxies.push(p);
  return p;
}
const gcDeps = (store: S3MediaStore, over: Partial<MediaGCDeps> = {}): MediaGCDeps => ({ ...testDeps(fs.db), store, ...over });
const put = (id: string, opts: Parameters<typeof putMedia>[4]) => putMedia(fs.db, s3, server.bucket, id, opts);
const media = async (id: string) => (await fs.db.doc(`canvasMedia/${id}`).get()).data();

describe("Content-MD5 on DeleteObjects", () => {
  it("deletes through a store that refuses DeleteObjects without Content-MD5 (fault proxy), sending no CRC32 headers", async () => {
    const strict = await proxy({ kind: "require-content-md5" });
    const keys = [await put("a", { ageDays: 40 }), await put("b", { ageDays: 40 })];

    const report = await runMediaGC(gcDeps(storeFor(strict.config)), { ttlDays: 30 });

    expect(report).toMatchObject({ deleted: 2, failed: [], complete: true });
    for (const key of keys) expect(await objectExists(s3, server.bucket, key)).toBe(false);
    // (s3rver sometimes answers a bulk delete of two keys in one folder with a 500 the SDK retries: count every attempt.)
    const deletes = strict.seen.filter((r) => r.method === "POST" && r.url.includes("delete"));
    expect(deletes.length).toBeGreaterThanOrEqual(1);
    for (const { headers } of deletes) {
      expect(headers["content-md5"]).toEqual(expect.any(String));
      expect(Object.keys(headers).filter((h) => h.startsWith("x-amz-checksum") || h === "x-amz-sdk-checksum-algorithm")).toEqual([]);
    }
  });

  it("the strict proxy does refuse what it should: a DeleteObjects without Content-MD5, answered as the providers do", async () => {
    const strict = await proxy({ kind: "require-content-md5" });
    const res = await fetch(`${strict.endpoint}/${server.bucket}?delete`, { method: "POST", body: "<Delete><Object><Key>k</Key></Object></Delete>" });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("Missing required header for this request: Content-MD5");
  });
});

describe("a key counts as deleted only when the answer names it", () => {
  it("S3MediaStore reports keys s3rver answered in another form (trimmed, \\r as \\n) as unconfirmed, not deleted", async () => {
    const result = await storeFor(server.config).deleteObjects([" spaced.png ", "line\rbreak.png", "plain.png"]);
    expect(result).toEqual({ deleted: ["plain.png"], refused: [], unconfirmed: [" spaced.png ", "line\rbreak.png"] });
  });

  it("keeps and reports the record of a key the store's answer leaves out (fault proxy), and sets it aside after repeated failures", async () => {
    const key = await put("lost", { ageDays: 40 });
    const okKey = await put("fine", { ageDays: 40 });
    const unconfirming = await proxy({ kind: "unconfirm", keys: [key] });
    const store = storeFor(unconfirming.config);

    const report = await runMediaGC(gcDeps(store), { ttlDays: 30 });

    expect(await mediaExists(fs.db, "lost")).toBe(true);
    expect(report.deleted).toBe(1);
    expect(report.failed).toEqual([{ id: "lost", storageKey: key, reason: expect.stringContaining("storage did not confirm the delete") }]);
    expect(await mediaExists(fs.db, "fine")).toBe(false);
    expect(await objectExists(s3, server.bucket, okKey)).toBe(false);
    // The object may be gone (s3rver did delete it): the record stays, still off-limits to the app, retried by the next run.
    expect(await media("lost")).toMatchObject({ gcState: "deleting", gcFailures: 1 });
    expect((await media("lost"))!.gcMarkedAt).toBeUndefined();

    for (let i = 1; i < GC_MAX_KEY_FAILURES; i++) await runMediaGC(gcDeps(store), { ttlDays: 30 });
    const after = await runMediaGC(gcDeps(store), { ttlDays: 30 });
    expect(after).toMatchObject({ deleted: 0, failed: [], skipped: { "set-aside": 1 } });
    expect(await media("lost")).toMatchObject({ gcFailures: GC_MAX_KEY_FAILURES });
  });

  it("never sends a key a store's XML parser would change: another object with the normalized key survives (s3rver)", async () => {
    const victim = await put("victim", { ageDays: 90, refs: 1, storageKey: "canvas/x.png" });
    const hostile = await put("hostile", { ageDays: 90, storageKey: " canvas/x.png " });
    const logger = memoryLogger();

    const report = await runMediaGC(gcDeps(storeFor(server.config), { logger }), { ttlDays: 30 });

    expect(await objectExists(s3, server.bucket, victim)).toBe(true);
    expect(await objectExists(s3, server.bucket, hostile)).toBe(true);
    expect(await mediaExists(fs.db, "hostile")).toBe(true);
    expect(report).toMatchObject({ deleted: 0, failed: [], skipped: { "unsafe-storageKey": 1 } });
    expect(logger.entries.find((e) => e.message === "mediaGC.item_skipped")).toMatchObject({ severity: "WARNING", mediaId: "hostile", reason: "unsafe-storageKey" });
  });
});

describe("storage that accepts the connection and never answers (fault proxy)", () => {
  it("every request times out (ZATA_REQUEST_TIMEOUT_MS): the run returns, keeps the records, and a run right after retries them", async () => {
    const keys = [await put("h1", { ageDays: 40 }), await put("h2", { ageDays: 40 })];
    const hanging = await proxy({ kind: "hang" });

    const report = await runMediaGC(gcDeps(storeFor({ ...hanging.config, ZATA_REQUEST_TIMEOUT_MS: 300 }, 2)), { ttlDays: 30 });

    expect(report).toMatchObject({ deleted: 0, complete: false });
    expect(report.failed.map((f) => f.id).sort()).toEqual(["h1", "h2"]);
    expect(report.failed[0].reason).toMatch(/TimeoutError|timed? ?out/i);
    // One request, retried once (maxAttempts 2), each timed out.
    expect(hanging.seen.filter((r) => r.method === "POST")).toHaveLength(2);
    for (const id of ["h1", "h2"]) expect(await media(id)).toMatchObject({ gcState: "deleting" });

    const next = await runMediaGC(gcDeps(storeFor(server.config)), { ttlDays: 30 });
    expect(next).toMatchObject({ deleted: 2, failed: [] });
    for (const key of keys) expect(await objectExists(s3, server.bucket, key)).toBe(false);
  });

  it("the run's time budget holds even when the request timeout is longer", async () => {
    await put("slow", { ageDays: 40 });
    const hanging = await proxy({ kind: "hang" });
    const store = storeFor({ ...hanging.config, ZATA_REQUEST_TIMEOUT_MS: 600_000 });

    // The clock stands still, so the budget is whole when the request starts, however slow the machine: what ends the wait is the budget's abort.
    const frozen = Date.now();
    const report = await runMediaGC(gcDeps(store, { clock: { now: () => frozen } }), { ttlDays: 30, timeBudgetMs: 2_000 });

    expect(report).toMatchObject({ deleted: 0, complete: false });
    expect(report.failed).toEqual([{ id: "slow", storageKey: "canvas/owner/slow.png", reason: expect.stringMatching(/^storage request failed: .*abort/i) }]);
    expect(await mediaExists(fs.db, "slow")).toBe(true);
    expect(await objectExists(s3, server.bucket, "canvas/owner/slow.png")).toBe(true);
  });
});

describe("a store that refuses for a configuration reason", () => {
  it("throws a ConfigError naming the setting, and leaves no mark behind", async () => {
    await put("kept", { ageDays: 40 });
    const wrongBucket = storeFor({ ...server.config, ZATA_BUCKET: "no-such-bucket" });
    await expect(runMediaGC(gcDeps(wrongBucket), { ttlDays: 30 })).rejects.toMatchObject({ name: "ConfigError", message: expect.stringMatching(/NoSuchBucket.*check ZATA_BUCKET/) });
    expect(await media("kept")).not.toHaveProperty("gcState");
  });
});
