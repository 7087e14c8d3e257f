import { CreateBucketCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { GC_MAX_KEY_FAILURES } from "../../src/core/mediaGC/eligibility";
import { runMediaGC, type MediaGCDeps } from "../../src/core/mediaGC/runMediaGC";
import { S3MediaStore } from "../../src/core/storage/mediaStore";
import { createS3Client } from "../../src/core/storage/s3Client";
import { startS3Server, type TestS3Server } from "../../dev/s3Server";
import { memoryLogger, testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { mediaExists, objectExists, putMedia } from "../harness/media";
import { startStorageFaultProxy } from "../harness/storageFaultProxy";

/**
 * Spellings of one object's key: the GC never deletes an object that a referenced (or not yet
 * eligible) media doc names in any spelling a store may take for the same key. s3rver itself keeps
 * objects as files and resolves keys as paths (`a//b`, `/a/b`, `a/./b`, `x/../a/b` are `a/b`,
 * `../other/k` is in another bucket); Unicode normalization is shown by a STORAGE FAULT PROXY in
 * front of s3rver (test/harness/storageFaultProxy.ts, `normalize-unicode`), as a store on a
 * normalizing file system behaves. Firestore is the real emulator.
 */
let fs: TestFirestore;
let server: TestS3Server;
let s3: S3Client;
let bucket = "";
let buckets = 0;
beforeAll(async () => {
  fs = createTestFirestore("gckeys");
  server = await startS3Server("media");
  s3 = createS3Client(server.config);
});
beforeEach(async () => {
  await fs.clear();
  // A bucket per test: on the old code some of these keys made s3rver remove directories, the bucket's own among them.
  bucket = `keys${++buckets}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  s3.destroy();
  await server.dispose();
  await fs.close();
});

const deps = (store = new S3MediaStore(s3, bucket)): MediaGCDeps & { logger: ReturnType<typeof memoryLogger> } => ({
  ...testDeps(fs.db),
  store,
  logger: memoryLogger(),
});
const put = (id: string, opts: Parameters<typeof putMedia>[4]) => putMedia(fs.db, s3, bucket, id, opts);

describe("a garbage doc whose key is another path to a referenced doc's object (s3rver)", () => {
  it.each([
    ["a .. segment", "users/x/../v/victim.png"],
    ["a leading /", "/users/v/victim.png"],
    ["a doubled /", "users//v/victim.png"],
    ["a . segment", "users/./v/victim.png"],
    ["a . segment before the name", "users/v/./victim.png"],
  ])("%s (%s): never sent; the referenced object and the bucket survive", async (_label, hostile) => {
    const victim = await put("victim", { ageDays: 400, refs: 1, storageKey: "users/v/victim.png" });
    await put("garbage", { ageDays: 400, storageKey: hostile, withObject: false });
    const gc = deps();

    const report = await runMediaGC(gc, { ttlDays: 30 });

    expect(await objectExists(s3, bucket, victim)).toBe(true);
    expect(await mediaExists(fs.db, "victim")).toBe(true);
    expect(await mediaExists(fs.db, "garbage")).toBe(true);
    expect(report).toMatchObject({ deleted: 0, failed: [], skipped: { "unsafe-storageKey": 1 } });
    expect(gc.logger.entries.find((e) => e.message === "mediaGC.item_skipped")).toMatchObject({
      mediaId: "garbage",
      reason: "unsafe-storageKey",
      problem: expect.stringContaining("segment"),
    });
  });

  it("a key leaving the bucket (../other-bucket/secret.png) deletes nothing in the other bucket", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "other-bucket" })).catch(() => undefined);
    await s3.send(new PutObjectCommand({ Bucket: "other-bucket", Key: "secret.png", Body: "x" }));
    await put("garbage", { ageDays: 400, storageKey: "../other-bucket/secret.png", withObject: false });

    const report = await runMediaGC(deps(), { ttlDays: 30 });

    expect(await objectExists(s3, "other-bucket", "secret.png")).toBe(true);
    expect(report).toMatchObject({ deleted: 0, skipped: { "unsafe-storageKey": 1 } });
  });

  it("the last object of a bucket under a leading-/ key: the bucket stays, with the referenced object", async () => {
    const victim = await put("victim", { ageDays: 400, refs: 1, storageKey: "only.png" });
    await put("garbage", { ageDays: 400, storageKey: "/only.png", withObject: false });
    await runMediaGC(deps(), { ttlDays: 30 });
    expect(await objectExists(s3, bucket, victim)).toBe(true);
  });

  it("keys a file store takes literally still go: dots inside names, percent signs, XML specials, emoji", async () => {
    const keys = ["u/.hidden/x..png", "u/%2e%2e/x.png", "u/a&b<c>\"'.png", "u/\u{1F600}.png", "u/a+b c.png"];
    for (const [i, storageKey] of keys.entries()) await put(`g${i}`, { ageDays: 400, storageKey });
    const report = await runMediaGC(deps(), { ttlDays: 30 });
    expect(report).toMatchObject({ deleted: keys.length, failed: [], skipped: {} });
    for (const key of keys) expect({ key, exists: await objectExists(s3, bucket, key) }).toEqual({ key, exists: false });
  });
});

describe("Unicode spellings on a store that normalizes them (fault proxy: normalize-unicode)", () => {
  const nfc = "users/v/caf\u00e9.png";
  const nfd = "users/v/cafe\u0301.png";

  it.each([
    ["referenced NFC, garbage NFD", nfc, nfd],
    ["referenced NFD, garbage NFC", nfd, nfc],
  ])("%s: the object stays, and the garbage record waits for a person", async (_label, referenced, garbage) => {
    const proxy = await startStorageFaultProxy(server, { kind: "normalize-unicode" });
    const client = createS3Client({ ...proxy.config, ZATA_BUCKET: bucket });
    try {
      // The one file the normalizing store holds for both spellings.
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: nfc, Body: "x" }));
      await put("victim", { ageDays: 400, refs: 1, storageKey: referenced, withObject: false });
      await put("garbage", { ageDays: 400, storageKey: garbage, withObject: false });

      const report = await runMediaGC(deps(new S3MediaStore(client, bucket)), { ttlDays: 30 });

      expect(await objectExists(s3, bucket, nfc)).toBe(true);
      expect(report).toMatchObject({
        deleted: 0,
        failed: [{ id: "garbage", reason: expect.stringContaining("another Unicode spelling") }],
      });
      expect(await mediaExists(fs.db, "victim")).toBe(true);
      expect(await mediaExists(fs.db, "garbage")).toBe(true);
    } finally {
      client.destroy();
      await proxy.close();
    }
  });

  it("on s3rver, which keeps both spellings apart, the garbage spelling is left for a person (set aside), never deleted", async () => {
    const nfcObject = await put("victim", { ageDays: 400, refs: 1, storageKey: nfc });
    const nfdObject = await put("garbage", { ageDays: 400, storageKey: nfd });
    let report;
    for (let i = 0; i < GC_MAX_KEY_FAILURES; i++) report = await runMediaGC(deps(), { ttlDays: 30 });
    expect(report!.failed).toEqual([{ id: "garbage", storageKey: nfd, reason: expect.stringContaining("another Unicode spelling") }]);
    expect(await runMediaGC(deps(), { ttlDays: 30 })).toMatchObject({ deleted: 0, failed: [], skipped: { "set-aside": 1 } });
    expect(await objectExists(s3, bucket, nfcObject)).toBe(true);
    expect(await objectExists(s3, bucket, nfdObject)).toBe(true);
    expect(await mediaExists(fs.db, "garbage")).toBe(true);
  });

  it("the proxy does normalize: an NFD key deletes the NFC object through it", async () => {
    const proxy = await startStorageFaultProxy(server, { kind: "normalize-unicode" });
    const client = createS3Client({ ...proxy.config, ZATA_BUCKET: bucket });
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: nfc, Body: "x" }));
      const answer = await new S3MediaStore(client, bucket).deleteObjects([nfd]);
      expect(answer).toEqual({ kind: "answered", deleted: [nfd], refused: [], unconfirmed: [] });
      expect(await objectExists(s3, bucket, nfc)).toBe(false);
    } finally {
      client.destroy();
      await proxy.close();
    }
  });
});
