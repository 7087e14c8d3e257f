import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { GC_MAX_KEY_FAILURES } from "../../src/core/mediaGC/eligibility";
import { runMediaGC, type MediaGCDeps } from "../../src/core/mediaGC/runMediaGC";
import type { S3MediaStore } from "../../src/core/storage/mediaStore";
import { memoryLogger, testDeps } from "../harness/deps";
import { mediaExists, objectExists, storageTestBed } from "../harness/media";
import type { StorageFaultProxy } from "../harness/storageFaultProxy";

/**
 * Refusals and odd answers: is it one key, or the store? A key the store refuses must not stop
 * the others, and a store-wide problem (or a wrong setting) must not be charged to every key. The
 * store is s3rver, behind a STORAGE FAULT PROXY (test/harness/storageFaultProxy.ts) where s3rver
 * cannot show the behaviour; Firestore is the real emulator.
 */
const bed = storageTestBed("gcrefusals");
const { storeFor, proxy, put, media } = bed;
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});
const gcDeps = (store: S3MediaStore): MediaGCDeps => ({ ...testDeps(bed.fs.db), store });
const deleteRequests = (p: StorageFaultProxy) => p.seen.filter((r) => r.method === "POST" && r.url.includes("delete")).length;

describe("a key the store refuses with the whole request (fault proxy: refuse-request-with)", () => {
  it("the batch is split until the refused key is alone: every other key goes in the same run; the refused one is set aside after repeated runs", async () => {
    // The oldest garbage, so it is in every run's first batch.
    const poison = await put("poison", { ageDays: 900, storageKey: "u/poison.png" });
    const good: string[] = [];
    for (let i = 0; i < 30; i++) good.push(await put(`ok${i}`, { ageDays: 400 }));
    const refusing = await proxy({ kind: "refuse-request-with", marker: poison });
    const store = storeFor(refusing.config);

    const report = await runMediaGC(gcDeps(store), { ttlDays: 30, batchSize: 10 });

    expect(report).toMatchObject({ deleted: 30, complete: true });
    expect(report.failed).toEqual([{ id: "poison", storageKey: poison, reason: expect.stringContaining("MalformedXML") }]);
    for (const key of good) expect({ key, exists: await objectExists(bed.s3, bed.server.bucket, key) }).toEqual({ key, exists: false });
    expect(await objectExists(bed.s3, bed.server.bucket, poison)).toBe(true);
    // Refused: the object certainly stays, so the app may use it again; the failure counts against the key.
    const doc = await media("poison");
    expect(doc).toMatchObject({ gcFailures: 1, gcLastError: expect.stringContaining("MalformedXML") });
    expect(doc).not.toHaveProperty("gcState");

    for (let i = 1; i < GC_MAX_KEY_FAILURES; i++) await runMediaGC(gcDeps(store), { ttlDays: 30, batchSize: 10 });
    const before = deleteRequests(refusing);
    const after = await runMediaGC(gcDeps(store), { ttlDays: 30, batchSize: 10 });
    expect(after).toMatchObject({ deleted: 0, failed: [], complete: true, skipped: { "set-aside": 1 } });
    expect(deleteRequests(refusing)).toBe(before);
  });
});

describe("store-wide problems are not charged to the keys", () => {
  it("a store that refuses every request (400): the run stops after one probe, the records are released whole, and no key is ever set aside", async () => {
    const keys = [await put("a", { ageDays: 40 }), await put("b", { ageDays: 40 })];
    const refusing = await proxy({ kind: "refuse-every-request", status: 400, code: "InvalidRequest" });
    const store = storeFor(refusing.config);

    for (let run = 0; run <= GC_MAX_KEY_FAILURES; run++) {
      const report = await runMediaGC(gcDeps(store), { ttlDays: 30 });
      expect(report).toMatchObject({
        deleted: 0,
        complete: false,
        skipped: {},
        stoppedBy: expect.stringMatching(/^storage failed: InvalidRequest.*probe failed too/),
      });
    }
    // Per run: the batch's request and one probe.
    expect(deleteRequests(refusing)).toBe(2 * (GC_MAX_KEY_FAILURES + 1));
    for (const id of ["a", "b"]) {
      const doc = await media(id);
      expect(doc).not.toHaveProperty("gcFailures");
      expect(doc).not.toHaveProperty("gcState");
    }
    for (const key of keys) expect(await objectExists(bed.s3, bed.server.bucket, key)).toBe(true);
  });

  it("an answer that names none of the keys (empty DeleteResult): an outage, not the keys' fault; a run against an honest store then finishes", async () => {
    const keys = [await put("a", { ageDays: 40 }), await put("b", { ageDays: 40 })];
    const empty = await proxy({ kind: "name-no-key" });

    const report = await runMediaGC(gcDeps(storeFor(empty.config)), { ttlDays: 30 });

    expect(report).toMatchObject({ deleted: 0, complete: false, stoppedBy: expect.stringContaining("confirmed none of the 2 keys") });
    for (const id of ["a", "b"]) {
      const doc = await media(id);
      // The store did act on the request (the proxy let it through): the objects may be gone, so the app keeps off them.
      expect(doc).toMatchObject({ gcState: "deleting" });
      expect(doc).not.toHaveProperty("gcFailures");
      expect(doc).not.toHaveProperty("gcMarkedAt");
    }
    const next = await runMediaGC(gcDeps(storeFor(bed.server.config)), { ttlDays: 30 });
    expect(next).toMatchObject({ deleted: 2, failed: [], complete: true });
    for (const key of keys) expect(await objectExists(bed.s3, bed.server.bucket, key)).toBe(false);
  });

  it("every key refused with AccessDenied, the probe too: a ConfigError naming the credentials, no key charged", async () => {
    await put("a", { ageDays: 40 });
    await put("b", { ageDays: 40 });
    const denying = await proxy({ kind: "refuse-every-key", code: "AccessDenied" });

    await expect(runMediaGC(gcDeps(storeFor(denying.config)), { ttlDays: 30 })).rejects.toMatchObject({
      name: "ConfigError",
      message: expect.stringMatching(/refused every key \(AccessDenied.*check ZATA_ACCESS_KEY_ID/),
    });
    for (const id of ["a", "b"]) {
      const doc = await media(id);
      expect(doc).not.toHaveProperty("gcFailures");
      expect(doc).not.toHaveProperty("gcState");
    }
  });
});

describe("settings the store or the SDK refuse: a ConfigError naming the setting, and the items free again (nothing was deleted)", () => {
  async function gcState(id: string) {
    return (await media(id))?.gcState ?? null;
  }

  it("https to a store that speaks http: the TLS handshake fails, ZATA_ENDPOINT", async () => {
    await put("old", { ageDays: 40 });
    const store = storeFor({ ...bed.server.config, ZATA_ENDPOINT: bed.server.endpoint.replace("http:", "https:") });
    await expect(runMediaGC(gcDeps(store), { ttlDays: 30 })).rejects.toMatchObject({
      name: "ConfigError",
      message: expect.stringMatching(/EPROTO.*check ZATA_ENDPOINT/),
    });
    expect(await gcState("old")).toBeNull();
  });

  it("a region the SDK will not sign with (it sends nothing): ZATA_REGION", async () => {
    await put("old", { ageDays: 40 });
    const store = storeFor({ ...bed.server.config, ZATA_REGION: "us east 1!" });
    await expect(runMediaGC(gcDeps(store), { ttlDays: 30 })).rejects.toMatchObject({
      name: "ConfigError",
      message: expect.stringMatching(/not sent.*Region.*check ZATA_REGION/),
    });
    expect(await gcState("old")).toBeNull();
  });

  it("an endpoint that is not S3 (404 text/html): ZATA_ENDPOINT", async () => {
    await put("old", { ageDays: 40 });
    const html = createServer((_req, res) => {
      res.writeHead(404, { "content-type": "text/html" });
      res.end("<html>not found</html>");
    });
    servers.push(html);
    await new Promise<void>((r) => html.listen(0, "127.0.0.1", r));
    const store = storeFor({ ...bed.server.config, ZATA_ENDPOINT: `http://127.0.0.1:${(html.address() as AddressInfo).port}` });
    await expect(runMediaGC(gcDeps(store), { ttlDays: 30 })).rejects.toMatchObject({
      name: "ConfigError",
      message: expect.stringMatching(/check ZATA_ENDPOINT \(is it the store's S3 endpoint\?\)/),
    });
    expect(await gcState("old")).toBeNull();
    expect(await mediaExists(bed.fs.db, "old")).toBe(true);
  });

  it("a closed port is an outage (the store may be down), with a hint at ZATA_ENDPOINT; the items are free again", async () => {
    await put("old", { ageDays: 40 });
    const logger = memoryLogger();
    const report = await runMediaGC(
      { ...gcDeps(storeFor({ ...bed.server.config, ZATA_ENDPOINT: "http://127.0.0.1:9" })), logger },
      { ttlDays: 30 },
    );
    expect(report).toMatchObject({ complete: false, stoppedBy: expect.stringMatching(/ECONNREFUSED.*is the store at ZATA_ENDPOINT up\?/) });
    expect(await gcState("old")).toBeNull();
  });
});
