import { GC_MAX_KEY_FAILURES } from "../../src/core/mediaGC/eligibility";
import { runMediaGC, type MediaGCDeps } from "../../src/core/mediaGC/runMediaGC";
import type { S3MediaStore } from "../../src/core/storage/mediaStore";
import { testDeps } from "../harness/deps";
import { objectExists, storageTestBed } from "../harness/media";

/**
 * A poison key: one the store fails the whole request for (a 500, or no answer at all), while it
 * handles requests without it. It is the oldest garbage, so it is in every run's first batch: it
 * must not stop the keys beside it or the batches behind it, and it must end set aside. The store
 * is s3rver behind a STORAGE FAULT PROXY (test/harness/storageFaultProxy.ts, `fail-request-with`);
 * Firestore is the real emulator.
 */
const bed = storageTestBed("gcpoison");
const { storeFor, proxy, put, media } = bed;
const gcDeps = (store: S3MediaStore): MediaGCDeps => ({ ...testDeps(bed.fs.db), store });
const exists = (key: string) => objectExists(bed.s3, bed.server.bucket, key);

describe("a key whose every request fails while the store handles the others (fault proxy: fail-request-with)", () => {
  it.each([
    ["500 InternalError", "500", 30_000, 4, "InternalError"],
    ["no answer (each attempt times out)", "hang", 1_000, 2, "ZATA_REQUEST_TIMEOUT_MS"],
  ] as const)(
    "%s: the keys beside it go in the same run, it is charged, and it is set aside",
    async (_label, how, timeoutMs, attempts, why) => {
      const poison = await put("poison", { ageDays: 400, storageKey: "canvas/o/poison.png" });
      const failing = await proxy({ kind: "fail-request-with", marker: "poison", how });
      const store = storeFor({ ...failing.config, ZATA_REQUEST_TIMEOUT_MS: timeoutMs }, attempts);

      for (let run = 1; run <= GC_MAX_KEY_FAILURES; run++) {
        // Fresh garbage behind the poison for every run (batches of 2: the second batch waits behind the first).
        const good = [await put(`a${run}`, { ageDays: 40 }), await put(`b${run}`, { ageDays: 40 }), await put(`c${run}`, { ageDays: 40 })];

        const report = await runMediaGC(gcDeps(store), { ttlDays: 30, batchSize: 2 });

        expect({ run, report }).toMatchObject({ run, report: { deleted: 3, complete: true } });
        expect(report.failed).toEqual([{ id: "poison", storageKey: poison, reason: expect.stringContaining(why) }]);
        for (const key of good) expect({ key, exists: await exists(key) }).toEqual({ key, exists: false });
        expect(await exists(poison)).toBe(true);
        // The store may have acted on a request it failed: the app keeps off the record; the failure is the key's.
        const doc = await media("poison");
        expect(doc).toMatchObject({ gcState: "deleting", gcFailures: run });
        expect(doc).not.toHaveProperty("gcMarkedAt");
      }

      const last = await put("z", { ageDays: 40 });
      const after = await runMediaGC(gcDeps(store), { ttlDays: 30, batchSize: 2 });
      expect(after).toMatchObject({ deleted: 1, failed: [], complete: true, skipped: { "set-aside": 1 } });
      expect(await exists(last)).toBe(false);
      expect(await exists(poison)).toBe(true);
    },
  );

  it("the poison alone in the run: no other key shows the store deletes, so nothing is charged and the run says storage failed", async () => {
    await put("poison", { ageDays: 400, storageKey: "canvas/o/poison.png" });
    const failing = await proxy({ kind: "fail-request-with", marker: "poison", how: "500" });

    const report = await runMediaGC(gcDeps(storeFor(failing.config)), { ttlDays: 30 });

    expect(report).toMatchObject({ deleted: 0, complete: false, stoppedBy: expect.stringContaining("storage failed") });
    const doc = await media("poison");
    expect(doc).toMatchObject({ gcState: "deleting" });
    expect(doc).not.toHaveProperty("gcFailures");
  });
});

describe("a store that fails every request carrying real keys, but not the probe (fault proxy: fail-request-with the common prefix)", () => {
  it("is a store-wide failure: no key is charged, the run stops", async () => {
    for (const id of ["a", "b", "c"]) await put(id, { ageDays: 40 });
    const failing = await proxy({ kind: "fail-request-with", marker: "canvas/", how: "500" });

    const report = await runMediaGC(gcDeps(storeFor(failing.config)), { ttlDays: 30 });

    expect(report).toMatchObject({ deleted: 0, complete: false });
    for (const id of ["a", "b", "c"]) {
      const doc = await media(id);
      expect(doc).toMatchObject({ gcState: "deleting" });
      expect(doc).not.toHaveProperty("gcFailures");
    }
  });
});
