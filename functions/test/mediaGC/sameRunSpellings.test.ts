import { getMediaGCHealth } from "../../src/core/mediaGC/health";
import { runMediaGC } from "../../src/core/mediaGC/runMediaGC";
import { testDeps } from "../harness/deps";
import { mediaExists, objectExists, storageTestBed } from "../harness/media";

/**
 * Two garbage docs naming the NFC and NFD spellings of one key, in one batch: both are this run's
 * own marks, so neither is "another run" for the other. Real s3rver (on a file system that keeps
 * both spellings apart: two objects) and the real Firestore emulator.
 */
const bed = storageTestBed("gcsamerun");
const { storeFor, put } = bed;

it("NFC and NFD spellings of one key in the same batch are deleted together, as status and the dry run said", async () => {
  const nfc = "canvas/o/caf\u00e9.png";
  const nfd = nfc.normalize("NFD");
  await put("a-nfc", { ageDays: 40, storageKey: nfc });
  await put("b-nfd", { ageDays: 40, storageKey: nfd });
  const deps = { ...testDeps(bed.fs.db), store: storeFor(bed.server.config) };

  const status = await getMediaGCHealth(bed.fs.db, Date.now(), 30);
  const dry = await runMediaGC(deps, { ttlDays: 30, dryRun: true });
  const report = await runMediaGC(deps, { ttlDays: 30 });

  expect(status.candidates).toBe(2);
  expect(dry.candidates!.map((c) => c.id).sort()).toEqual(["a-nfc", "b-nfd"]);
  expect(report).toMatchObject({ deleted: 2, failed: [], skipped: {}, complete: true });
  for (const id of ["a-nfc", "b-nfd"]) expect(await mediaExists(bed.fs.db, id)).toBe(false);
  for (const key of [nfc, nfd]) expect(await objectExists(bed.s3, bed.server.bucket, key)).toBe(false);
});

it("a referenced doc naming the other spelling still keeps both objects (the pair's rule is only for the batch's own marks)", async () => {
  const nfc = "canvas/o/na\u00efve.png";
  const nfd = nfc.normalize("NFD");
  await put("garbage", { ageDays: 40, storageKey: nfc });
  await put("live", { ageDays: 40, storageKey: nfd, refs: 1 });

  const report = await runMediaGC({ ...testDeps(bed.fs.db), store: storeFor(bed.server.config) }, { ttlDays: 30 });

  expect(report).toMatchObject({ deleted: 0 });
  expect(report.failed.map((f) => f.id)).toEqual(["garbage"]);
  for (const key of [nfc, nfd]) expect(await objectExists(bed.s3, bed.server.bucket, key)).toBe(true);
});
