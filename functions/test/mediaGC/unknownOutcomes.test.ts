import { Timestamp } from "firebase-admin/firestore";
import { gcRunSucceeded } from "../../src/core/mediaGC/report";
import { runMediaGC, type MediaGCDeps } from "../../src/core/mediaGC/runMediaGC";
import type { S3MediaStore } from "../../src/core/storage/mediaStore";
import { testDeps } from "../harness/deps";
import { mediaExists, objectExists, storageTestBed } from "../harness/media";
import type { StorageFaultProxy } from "../harness/storageFaultProxy";

/**
 * Deletes whose outcome is unknown: a request an attempt of which may have reached the store and
 * acted, a per-key error that does not say the object was kept, an answer that drips. The rule:
 * such an item keeps `gcState: "deleting"` (the app keeps off it) and the next run re-sends its
 * idempotent delete before deleting the record. The store is s3rver, behind a STORAGE FAULT PROXY
 * (test/harness/storageFaultProxy.ts) for what s3rver does not do; Firestore is the real emulator.
 */
const bed = storageTestBed("gcunknown");
const { storeFor, proxy, put, media } = bed;
const gcDeps = (store: S3MediaStore): MediaGCDeps => ({ ...testDeps(bed.fs.db), store });
const deleteRequests = (p: StorageFaultProxy) => p.seen.filter((r) => r.method === "POST" && r.url.includes("delete")).length;

describe("a request whose first attempt deleted and answered 500 (fault proxy: act-then-fail)", () => {
  it.each([
    ["later connections are refused", "refuse-connections"],
    ["later attempts are throttled (429)", "429"],
    ["later attempts get 404 text/html, as from a load balancer", "404-html"],
  ] as const)("%s: the record keeps gcState, no settings error, and the next run finishes it", async (_label, later) => {
    const key = await put("m1", { ageDays: 40 });
    const failing = await proxy({ kind: "act-then-fail", later });

    const report = await runMediaGC(gcDeps(storeFor(failing.config)), { ttlDays: 30 });

    expect(await objectExists(bed.s3, bed.server.bucket, key)).toBe(false);
    expect(report).toMatchObject({
      deleted: 0,
      complete: false,
      stoppedBy: expect.stringContaining("an earlier attempt may have deleted keys"),
    });
    expect(report.failed).toEqual([{ id: "m1", storageKey: key, reason: expect.stringContaining("InternalError") }]);
    // Throttling is retried to the last attempt; a 404 is not retried; a refused connection is not counted by the proxy that closed.
    if (later === "429") expect(deleteRequests(failing)).toBe(4);
    if (later === "404-html") expect(deleteRequests(failing)).toBe(2);
    // The object is gone: the app must keep off the record, and no run holds it.
    const doc = await media("m1");
    expect(doc).toMatchObject({ gcState: "deleting" });
    expect(doc).not.toHaveProperty("gcMarkedAt");
    expect(doc).not.toHaveProperty("gcFailures");

    const next = await runMediaGC(gcDeps(storeFor(bed.server.config)), { ttlDays: 30 });
    expect(next).toMatchObject({ deleted: 1, failed: [], complete: true });
    expect(await mediaExists(bed.fs.db, "m1")).toBe(false);
  });
});

describe("per-key errors (fault proxy: key-error, after s3rver deleted the key)", () => {
  it.each(["InternalError", "ServiceUnavailable", "SlowDown", "SomeCodeNoTableKnows"])(
    "%s for one key of two: unknown outcome, gcState stays, the failure is charged to the key",
    async (code) => {
      const victim = await put("v", { ageDays: 41 });
      const other = await put("ok", { ageDays: 40 });
      const lying = await proxy({ kind: "key-error", keys: [victim], code });

      const report = await runMediaGC(gcDeps(storeFor(lying.config)), { ttlDays: 30 });

      expect(await objectExists(bed.s3, bed.server.bucket, victim)).toBe(false);
      expect(await objectExists(bed.s3, bed.server.bucket, other)).toBe(false);
      expect(report).toMatchObject({ deleted: 1, complete: true });
      expect(report.failed).toEqual([{ id: "v", storageKey: victim, reason: expect.stringContaining(`${code}: `) }]);
      expect(await media("v")).toMatchObject({
        gcState: "deleting",
        gcFailures: 1,
        gcLastError: expect.stringContaining("unknown outcome"),
      });
    },
  );

  it("InternalError for the only key: the record keeps gcState (the store-wide path does not release it as kept)", async () => {
    const victim = await put("alone", { ageDays: 40 });
    const lying = await proxy({ kind: "key-error", keys: [victim], code: "InternalError" });

    await runMediaGC(gcDeps(storeFor(lying.config)), { ttlDays: 30 });

    expect(await objectExists(bed.s3, bed.server.bucket, victim)).toBe(false);
    expect(await media("alone")).toMatchObject({ gcState: "deleting" });
    expect(await media("alone")).not.toHaveProperty("gcMarkedAt");
  });
});

describe("a store that drips its answer (fault proxy: drip)", () => {
  it("ZATA_REQUEST_TIMEOUT_MS bounds the whole attempt, not only silence: the request fails as unknown outcome", async () => {
    const key = await put("d1", { ageDays: 40 });
    // A byte every 100 ms never leaves the socket idle for the 1 s timeout; the answer (about 300 bytes) would take 30 s.
    const dripping = await proxy({ kind: "drip", everyMs: 100 });
    const store = storeFor({ ...dripping.config, ZATA_REQUEST_TIMEOUT_MS: 1_000 }, 1);

    const answer = await store.deleteObjects([key]);

    expect(answer).toMatchObject({
      kind: "failed",
      failure: { kind: "unavailable", nothingDeleted: false, message: expect.stringContaining("ZATA_REQUEST_TIMEOUT_MS (1000 ms)") },
    });
    expect(deleteRequests(dripping)).toBe(1);
  });
});

describe("a run the time budget stopped", () => {
  it("is not a success (the CLI exits 1), though no item failed", async () => {
    await put("slow", { ageDays: 40 });
    const hanging = await proxy({ kind: "hang" });
    const frozen = Date.now();

    const report = await runMediaGC(
      { ...gcDeps(storeFor({ ...hanging.config, ZATA_REQUEST_TIMEOUT_MS: 600_000 })), clock: { now: () => frozen } },
      { ttlDays: 30, timeBudgetMs: 500 },
    );

    expect(report).toMatchObject({ complete: false, stoppedBy: "time budget spent", failed: [] });
    expect(gcRunSucceeded(report)).toBe(false);
  });
});

describe("an item an earlier run left with gcState (its delete's outcome unknown), released by a later run as kept", () => {
  /** Run 1 through act-then-fail: s3rver deleted the object, the answer was a 500, the record keeps gcState. */
  async function leftUnknown(id: string): Promise<string> {
    const key = await put(id, { ageDays: 40 });
    const failing = await proxy({ kind: "act-then-fail", later: "refuse-connections" });
    await runMediaGC(gcDeps(storeFor(failing.config)), { ttlDays: 30 });
    expect(await objectExists(bed.s3, bed.server.bucket, key)).toBe(false);
    return key;
  }

  it("another run holds a doc naming the same key (shared-key-busy): gcState stays, the app still keeps off the lost object", async () => {
    const key = await leftUnknown("gone");
    await put("twin", { ageDays: 40, storageKey: key, withObject: false });
    await bed.fs.db.doc("canvasMedia/twin").update({ gcState: "deleting", gcMarkedAt: Timestamp.now(), gcRunId: "another-run" });

    const report = await runMediaGC(gcDeps(storeFor(bed.server.config)), { ttlDays: 30 });

    expect(report).toMatchObject({ deleted: 0, skipped: { "being-deleted": 1, "shared-key-busy": 1 } });
    expect(await media("gone")).toMatchObject({ gcState: "deleting" });
  });

  it("the store then refuses the request for its settings (403 AccessDenied): ConfigError, and gcState stays", async () => {
    await leftUnknown("gone");
    const denying = await proxy({ kind: "refuse-every-request", status: 403, code: "AccessDenied" });

    await expect(runMediaGC(gcDeps(storeFor(denying.config)), { ttlDays: 30 })).rejects.toMatchObject({ name: "ConfigError" });

    expect(await media("gone")).toMatchObject({ gcState: "deleting" });
  });
});
