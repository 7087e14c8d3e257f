import { runMediaGC, type MediaGCDeps } from "../../src/core/mediaGC/runMediaGC";
import { GC_LEASE_MARGIN_MS } from "../../src/core/mediaGC/collectBatch";
import { GC_MARK_LEASE_MS, GC_MAX_KEY_FAILURES } from "../../src/core/mediaGC/eligibility";
import type { S3MediaStore } from "../../src/core/storage/mediaStore";
import { injectCommitFaults } from "../harness/commitFaults";
import { ManualClock, memoryLogger, testDeps } from "../harness/deps";
import { eventually } from "../harness/firestore";
import { mediaExists, objectExists, storageTestBed } from "../harness/media";

/**
 * The GC against what real S3-compatible providers do: s3rver itself (it trims keys and turns
 * \r into \n when it parses a DeleteObjects body), and, where s3rver cannot show a behaviour, a
 * STORAGE FAULT PROXY in front of s3rver (test/harness/storageFaultProxy.ts): a store that
 * refuses DeleteObjects without Content-MD5, one that never answers, one whose answer leaves a
 * key out. Firestore is the real emulator.
 */
const bed = storageTestBed("gcfaults");
const { storeFor, proxy, put, media } = bed;
const gcDeps = (store: S3MediaStore, over: Partial<MediaGCDeps> = {}): MediaGCDeps => ({ ...testDeps(bed.fs.db), store, ...over });

describe("Content-MD5 on DeleteObjects", () => {
  it("deletes through a store that refuses DeleteObjects without Content-MD5 (fault proxy), sending no CRC32 headers", async () => {
    const strict = await proxy({ kind: "require-content-md5" });
    const keys = [await put("a", { ageDays: 40 }), await put("b", { ageDays: 40 })];

    const report = await runMediaGC(gcDeps(storeFor(strict.config)), { ttlDays: 30 });

    expect(report).toMatchObject({ deleted: 2, failed: [], complete: true });
    for (const key of keys) expect(await objectExists(bed.s3, bed.server.bucket, key)).toBe(false);
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
    const res = await fetch(`${strict.endpoint}/${bed.server.bucket}?delete`, {
      method: "POST",
      body: "<Delete><Object><Key>k</Key></Object></Delete>",
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("Missing required header for this request: Content-MD5");
  });
});

describe("a key counts as deleted only when the answer names it", () => {
  it("S3MediaStore reports keys s3rver answered in another form (trimmed, \\r as \\n) as unconfirmed, not deleted", async () => {
    const result = await storeFor(bed.server.config).deleteObjects([" spaced.png ", "line\rbreak.png", "plain.png"]);
    expect(result).toEqual({
      kind: "answered",
      deleted: ["plain.png"],
      refused: [],
      unconfirmed: [" spaced.png ", "line\rbreak.png"].map((key) => ({
        key,
        message: expect.stringContaining("neither Deleted nor Errors"),
      })),
    });
  });

  it("S3MediaStore reports a key the answer names both Deleted and in Errors as unconfirmed (fault proxy), not as kept", async () => {
    const key = await put("both", { ageDays: 40 });
    const contradicting = await proxy({ kind: "name-in-both-lists" });
    expect(await storeFor(contradicting.config).deleteObjects([key])).toEqual({
      kind: "answered",
      deleted: [],
      refused: [],
      unconfirmed: [{ key, message: expect.stringContaining("both Deleted and in Errors") }],
    });
  });

  it("keeps and reports the record of a key the store's answer leaves out (fault proxy), and sets it aside after repeated failures", async () => {
    const key = await put("lost", { ageDays: 40 });
    const okKey = await put("fine", { ageDays: 40 });
    const unconfirming = await proxy({ kind: "unconfirm", keys: [key] });
    const store = storeFor(unconfirming.config);

    const report = await runMediaGC(gcDeps(store), { ttlDays: 30 });

    expect(await mediaExists(bed.fs.db, "lost")).toBe(true);
    expect(report.deleted).toBe(1);
    expect(report.failed).toEqual([{ id: "lost", storageKey: key, reason: expect.stringContaining("storage did not confirm the delete") }]);
    expect(await mediaExists(bed.fs.db, "fine")).toBe(false);
    expect(await objectExists(bed.s3, bed.server.bucket, okKey)).toBe(false);
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

    const report = await runMediaGC(gcDeps(storeFor(bed.server.config), { logger }), { ttlDays: 30 });

    expect(await objectExists(bed.s3, bed.server.bucket, victim)).toBe(true);
    expect(await objectExists(bed.s3, bed.server.bucket, hostile)).toBe(true);
    expect(await mediaExists(bed.fs.db, "hostile")).toBe(true);
    expect(report).toMatchObject({ deleted: 0, failed: [], skipped: { "unsafe-storageKey": 1 } });
    expect(logger.entries.find((e) => e.message === "mediaGC.item_skipped")).toMatchObject({
      severity: "WARNING",
      mediaId: "hostile",
      reason: "unsafe-storageKey",
    });
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
    // One request, retried once (maxAttempts 2), each timed out; then one probe (in one attempt), which timed out too: the store, not a key.
    expect(hanging.seen.filter((r) => r.method === "POST")).toHaveLength(3);
    for (const id of ["h1", "h2"]) expect(await media(id)).not.toHaveProperty("gcFailures");
    for (const id of ["h1", "h2"]) expect(await media(id)).toMatchObject({ gcState: "deleting" });

    const next = await runMediaGC(gcDeps(storeFor(bed.server.config)), { ttlDays: 30 });
    expect(next).toMatchObject({ deleted: 2, failed: [] });
    for (const key of keys) expect(await objectExists(bed.s3, bed.server.bucket, key)).toBe(false);
  });

  it("the run's time budget holds even when the request timeout is longer, and the report says the budget ended it", async () => {
    await put("slow", { ageDays: 40 });
    const hanging = await proxy({ kind: "hang" });
    const store = storeFor({ ...hanging.config, ZATA_REQUEST_TIMEOUT_MS: 600_000 });

    // The clock stands still, so the budget is whole when the request starts, however slow the machine: what ends the wait is the budget's abort.
    const frozen = Date.now();
    const report = await runMediaGC(gcDeps(store, { clock: { now: () => frozen } }), { ttlDays: 30, timeBudgetMs: 2_000 });

    expect(report).toMatchObject({
      deleted: 0,
      complete: false,
      stoppedBy: "time budget spent",
      failed: [],
      skipped: { "time-budget": 1 },
    });
    expect(await mediaExists(bed.fs.db, "slow")).toBe(true);
    expect(await objectExists(bed.s3, bed.server.bucket, "canvas/owner/slow.png")).toBe(true);
    // The request was sent: the object may be gone, so the app keeps off it; no lease holds the next run off, no failure is charged to the key.
    const doc = await media("slow");
    expect(doc).toMatchObject({ gcState: "deleting", gcLastError: expect.stringContaining("time budget ended during its delete request") });
    expect(doc).not.toHaveProperty("gcMarkedAt");
    expect(doc).not.toHaveProperty("gcFailures");
  });
});

describe("time: the budget and the marks' lease bound every step", () => {
  it("a storage request is aborted before its marks' lease ends, however long the budget: no other run can take the items over while it waits", async () => {
    await put("held", { ageDays: 40 });
    const hanging = await proxy({ kind: "hang" });
    const clock = new ManualClock();
    const markedAt = clock.now();

    const run = runMediaGC(gcDeps(storeFor({ ...hanging.config, ZATA_REQUEST_TIMEOUT_MS: 600_000 }), { clock }), {
      ttlDays: 30,
      timeBudgetMs: 3_600_000,
    });
    await eventually(
      async () => hanging.seen.filter((r) => r.method === "POST").length,
      (n) => n === 1,
      20_000,
      "the delete request",
    );
    // The store still holds the request when the run's clock reaches the lease's margin.
    clock.advance(GC_MARK_LEASE_MS - GC_LEASE_MARGIN_MS);
    const report = await run;

    expect(clock.now()).toBeLessThan(markedAt + GC_MARK_LEASE_MS);
    expect(report).toMatchObject({ deleted: 0, complete: false, stoppedBy: expect.stringContaining("no answer within the marks' lease") });
    expect(report.failed).toEqual([
      { id: "held", storageKey: "canvas/owner/held.png", reason: expect.stringContaining("no answer within the marks' lease") },
    ]);
    // Released by its own run, before any other run could take it over; the object may be gone, so the app keeps off it.
    const doc = await media("held");
    expect(doc).toMatchObject({ gcState: "deleting" });
    expect(doc).not.toHaveProperty("gcMarkedAt");
  });

  it("a budget spent while marking stops the batch before its next step: the marks are released, no record or object goes", async () => {
    const shared = await put("shared", { ageDays: 40 });
    await put("keeper", { ageDays: 40, refs: 1, storageKey: shared, withObject: false });
    const solo = await put("solo", { ageDays: 40 });
    const watching = await proxy({ kind: "unconfirm", keys: [] });
    let offset = 0;
    const clock = { now: () => Date.now() + offset };
    // The budget ends the moment the GC writes its first mark.
    const stopWatching = injectCommitFaults(bed.fs.db, (paths) => {
      if (paths.some((p) => p.startsWith("canvasMedia/"))) offset = 3_600_000;
      return undefined;
    });
    let report;
    try {
      report = await runMediaGC(gcDeps(storeFor(watching.config), { clock }), { ttlDays: 30, timeBudgetMs: 60_000 });
    } finally {
      stopWatching();
    }

    expect(report).toMatchObject({
      deleted: 0,
      failed: [],
      complete: false,
      stoppedBy: "time budget spent",
      skipped: { "time-budget": 2 },
    });
    expect(watching.seen.filter((r) => r.method === "POST")).toEqual([]);
    for (const id of ["shared", "solo"]) {
      expect(await mediaExists(bed.fs.db, id)).toBe(true);
      expect(await media(id)).not.toHaveProperty("gcState");
    }
    for (const key of [shared, solo]) expect(await objectExists(bed.s3, bed.server.bucket, key)).toBe(true);
  });
});

describe("hand-written marks", () => {
  it("a mark dated in the future holds nothing: garbage sharing that doc's key is collected (its object kept), not kept waiting", async () => {
    const key = await put("garbage", { ageDays: 40 });
    await put("blocker", { ageDays: 2, storageKey: key, withObject: false });
    await bed.fs.db
      .doc("canvasMedia/blocker")
      .update({ gcState: "deleting", gcRunId: "by-hand", gcMarkedAt: new Date(Date.now() + 3650 * 86_400_000) });

    const report = await runMediaGC(gcDeps(storeFor(bed.server.config)), { ttlDays: 30 });

    expect(report).toMatchObject({ deleted: 1, sharedObjectsKept: 1, failed: [], skipped: {} });
    expect(await mediaExists(bed.fs.db, "garbage")).toBe(false);
    expect(await objectExists(bed.s3, bed.server.bucket, key)).toBe(true);
  });
});

describe("a store that refuses for a configuration reason", () => {
  it("throws a ConfigError naming the setting, and leaves no mark behind", async () => {
    await put("kept", { ageDays: 40 });
    const wrongBucket = storeFor({ ...bed.server.config, ZATA_BUCKET: "no-such-bucket" });
    await expect(runMediaGC(gcDeps(wrongBucket), { ttlDays: 30 })).rejects.toMatchObject({
      name: "ConfigError",
      message: expect.stringMatching(/NoSuchBucket.*check ZATA_BUCKET/),
    });
    expect(await media("kept")).not.toHaveProperty("gcState");
  });
});
