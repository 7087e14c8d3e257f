import { GC_MAX_KEY_FAILURES } from "../../src/core/mediaGC/eligibility";
import { getMediaGCHealth } from "../../src/core/mediaGC/health";
import { readCandidates, runMediaGC } from "../../src/core/mediaGC/runMediaGC";
import { ConfigError, errorMessage, failureKind } from "../../src/core/errors";
import { memoryLogger, testDeps } from "../harness/deps";
import { objectExists, storageTestBed } from "../harness/media";

/**
 * Worker fields of canvasMedia read back as found: `size` and `gcFailures` may hold anything a
 * writer put there. Real Firestore emulator, real s3rver.
 */
const bed = storageTestBed("gcfields");
const { storeFor, put } = bed;

it("a size that is not an integer from 0 to 5 TiB is unknown: out of bytesFreed, null in the dry run, logged", async () => {
  const hostile: Record<string, unknown> = {
    neg: -5e15,
    nan: NaN,
    inf: Infinity,
    text: "1000",
    huge: 2 ** 60,
    max1: Number.MAX_VALUE,
    max2: Number.MAX_VALUE,
    frac: 1.5,
  };
  for (const [id, size] of Object.entries(hostile)) {
    await put(id, { ageDays: 40 });
    await bed.fs.db.doc(`canvasMedia/${id}`).update({ size });
  }
  await put("good", { ageDays: 40, size: 1234 });
  const logger = memoryLogger();
  const deps = { ...testDeps(bed.fs.db), store: storeFor(bed.server.config), logger };

  const dry = await runMediaGC(deps, { ttlDays: 30, dryRun: true });
  const report = await runMediaGC(deps, { ttlDays: 30 });

  expect(dry.bytesFreed).toBe(1234);
  expect(Object.fromEntries(dry.candidates!.map((c) => [c.id, c.size]))).toEqual({
    ...Object.fromEntries(Object.keys(hostile).map((id) => [id, null])),
    good: 1234,
  });
  expect(report).toMatchObject({ deleted: 9, bytesFreed: 1234 });
  expect(logger.entries.filter((e) => e.message === "mediaGC.invalid_size").length).toBe(2 * Object.keys(hostile).length);
});

it.each([-1e9, 2.5, "0", null])(
  "a gcFailures of %p sets the item aside (no value makes an item immune), and status lists it",
  async (value) => {
    const key = await put("odd", { ageDays: 40 });
    await bed.fs.db.doc("canvasMedia/odd").update({ gcFailures: value });

    const status = await getMediaGCHealth(bed.fs.db, Date.now(), 30);
    const report = await runMediaGC({ ...testDeps(bed.fs.db), store: storeFor(bed.server.config) }, { ttlDays: 30 });

    expect(report).toMatchObject({ deleted: 0, skipped: { "set-aside": 1 } });
    expect(await objectExists(bed.s3, bed.server.bucket, key)).toBe(true);
    expect(status).toMatchObject({ candidates: 0, skipped: { "set-aside": 1 } });
    expect(status.needsAttention).toEqual([
      expect.objectContaining({
        id: "odd",
        reason: "set-aside",
        detail: expect.stringContaining("gcFailures is not a non-negative integer"),
      }),
    ]);
  },
);

it(`a valid gcFailures below ${GC_MAX_KEY_FAILURES} still lets the item go`, async () => {
  const key = await put("four", { ageDays: 40 });
  await bed.fs.db.doc("canvasMedia/four").update({ gcFailures: GC_MAX_KEY_FAILURES - 1 });

  const report = await runMediaGC({ ...testDeps(bed.fs.db), store: storeFor(bed.server.config) }, { ttlDays: 30 });

  expect(report).toMatchObject({ deleted: 1 });
  expect(await objectExists(bed.s3, bed.server.bucket, key)).toBe(false);
});

it("a missing composite index (FAILED_PRECONDITION from Firestore) is a ConfigError naming the index, not internal", async () => {
  // The emulator needs no index, so it cannot answer this: a stand-in query rejects with the error Firestore gives (gRPC code 9, a message with the console link).
  const missing = Object.assign(
    new Error(
      "9 FAILED_PRECONDITION: The query requires an index. You can create it here: https://console.firebase.google.com/v1/r/project/p/firestore/indexes?create_composite=x",
    ),
    { code: 9 },
  );
  const query = { get: () => Promise.reject(missing) } as unknown as FirebaseFirestore.Query;

  const error = await readCandidates(query).catch((e: unknown) => e);

  expect(error).toBeInstanceOf(ConfigError);
  expect(failureKind(error)).toBe("config");
  expect(errorMessage(error)).toMatch(/canvasMedia index \(referencedByCount, createdAt\).*create_composite/);
});
