import { Timestamp } from "firebase-admin/firestore";
import { GC_REASON_MAX_CHARS, GC_REPORT_LIST_LIMIT, gcRunSucceeded } from "../../src/core/mediaGC/report";
import { runMediaGC } from "../../src/core/mediaGC/runMediaGC";
import { DAY, storageTestBed } from "../harness/media";
import { testDeps } from "../harness/deps";

/**
 * A report must stay small whatever the backlog or the store's messages: the runWorker callable
 * answers with it (its answer has a size limit) and the process holds it in memory. Real Firestore
 * emulator; the store is s3rver behind a STORAGE FAULT PROXY (test/harness/storageFaultProxy.ts).
 */
const bed = storageTestBed("gcbounds");
const { storeFor, proxy } = bed;
const MORE = GC_REPORT_LIST_LIMIT + 25;

/** `n` garbage records (no objects), the oldest first by id. */
async function garbage(n: number): Promise<void> {
  const start = Date.now() - 40 * DAY;
  for (let i = 0; i < n; i += 500) {
    const batch = bed.fs.db.batch();
    for (let j = i; j < Math.min(n, i + 500); j++) {
      const id = `m${String(j).padStart(5, "0")}`;
      batch.set(bed.fs.db.doc(`canvasMedia/${id}`), {
        ownerUid: "owner",
        storageKey: `canvas/owner/${id}.png`,
        referencedByCount: 0,
        createdAt: Timestamp.fromMillis(start + j),
        size: 10,
      });
    }
    await batch.commit();
  }
}

it(`a dry run over ${MORE} candidates counts them all and lists the oldest ${GC_REPORT_LIST_LIMIT}`, async () => {
  await garbage(MORE);

  const dry = await runMediaGC(testDeps(bed.fs.db), { ttlDays: 30, dryRun: true });

  expect(dry).toMatchObject({ candidateCount: MORE, bytesFreed: 10 * MORE, complete: true });
  expect(dry.candidates).toHaveLength(GC_REPORT_LIST_LIMIT);
  expect(dry.candidates[0].id).toBe("m00000");
  expect(dry.candidates[GC_REPORT_LIST_LIMIT - 1].id).toBe(`m${String(GC_REPORT_LIST_LIMIT - 1).padStart(5, "0")}`);
});

it(`a run whose ${MORE} items all fail, each with a 5,000-character message from the store: counted whole, listed and cut to bounds`, async () => {
  await garbage(MORE);
  const denying = await proxy({ kind: "refuse-every-key", code: "InvalidArgument", message: "x".repeat(5_000), under: "canvas/" });

  const report = await runMediaGC({ ...testDeps(bed.fs.db), store: storeFor(denying.config) }, { ttlDays: 30, batchSize: 1000 });

  expect(report).toMatchObject({ deleted: 0, failedCount: MORE, complete: true });
  expect(gcRunSucceeded(report)).toBe(false);
  expect(report.failed).toHaveLength(GC_REPORT_LIST_LIMIT);
  expect(Math.max(...report.failed.map((f) => f.reason.length))).toBe(GC_REASON_MAX_CHARS);
});
