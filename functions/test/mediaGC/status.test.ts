import { Timestamp } from "firebase-admin/firestore";
import { parseWorkerConfig } from "../../src/core/config";
import { getSystemHealth } from "../../src/core/health/systemHealth";
import { GC_MAX_KEY_FAILURES } from "../../src/core/mediaGC/eligibility";
import { runMediaGC } from "../../src/core/mediaGC/runMediaGC";
import { getMediaGCHealth } from "../../src/core/mediaGC/health";
import { testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { DAY } from "../harness/media";

/** The GC's part of `status` on the real emulator: it counts what a run would delete, and shows what waits for a person. */
let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("gcstatus");
});
beforeEach(() => fs.clear());
afterAll(() => fs.close());

async function media(id: string, fields: Record<string, unknown> = {}) {
  await fs.db.doc(`canvasMedia/${id}`).set({
    ownerUid: "o",
    storageKey: `canvas/o/${id}.png`,
    referencedByCount: 0,
    createdAt: Timestamp.fromMillis(Date.now() - 40 * DAY),
    size: 1,
    ...fields,
  });
}

it("counts what a run would delete (as the dry run does), and lists the set-aside and unsafe-key items apart", async () => {
  await media("ok");
  await media("shared", { storageKey: "canvas/o/keeper.png" });
  await media("keeper", { storageKey: "canvas/o/keeper.png", referencedByCount: 1 });
  await media("spaced", { storageKey: " spaced.png " });
  await media("dotdot", { storageKey: "u/x/../v.png" });
  await media("aside", { gcFailures: GC_MAX_KEY_FAILURES, gcLastError: "storage refused: InvalidObjectState: archived" });
  await media("marked", { gcState: "deleting", gcRunId: "r", gcMarkedAt: Timestamp.now() });
  await media("young", { createdAt: Timestamp.now() });

  const now = Date.now();
  const status = await getMediaGCHealth(fs.db, now, 30);
  const dry = await runMediaGC(testDeps(fs.db), { ttlDays: 30, dryRun: true });

  expect(status.candidates).toBe(dry.candidates!.length);
  expect(status).toMatchObject({
    ttlDays: 30,
    unreferencedOld: 6,
    examined: 6,
    candidates: 2,
    complete: true,
    skipped: { "unsafe-storageKey": 2, "set-aside": 1, "being-deleted": 1 },
  });
  expect([...status.needsAttention].sort((a, b) => a.id.localeCompare(b.id))).toEqual([
    {
      id: "aside",
      storageKey: "canvas/o/aside.png",
      reason: "set-aside",
      detail: `${GC_MAX_KEY_FAILURES} storage failures; last: storage refused: InvalidObjectState: archived`,
    },
    { id: "dotdot", storageKey: "u/x/../v.png", reason: "unsafe-storageKey", detail: expect.stringContaining(". or .. segment") },
    { id: "spaced", storageKey: " spaced.png ", reason: "unsafe-storageKey", detail: "the key has whitespace at either end" },
  ]);
  // getSystemHealth carries the same.
  expect((await getSystemHealth(fs.db, parseWorkerConfig({}), now)).mediaGC).toEqual(status);
});

it("reads at most maxReads docs, oldest first, and says when there were more", async () => {
  for (let i = 0; i < 5; i++) await media(`m${i}`, { createdAt: Timestamp.fromMillis(Date.now() - (50 - i) * DAY) });
  await media("m0-aside", { createdAt: Timestamp.fromMillis(Date.now() - 60 * DAY), gcFailures: 9 });
  const status = await getMediaGCHealth(fs.db, Date.now(), 30, { maxReads: 3 });
  expect(status).toMatchObject({ unreferencedOld: 6, examined: 3, candidates: 2, complete: false, skipped: { "set-aside": 1 } });
});
