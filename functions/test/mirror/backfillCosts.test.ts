import type { Firestore } from "firebase-admin/firestore";
import { runBackfill, type BackfillOptions } from "../../src/core/mirror/backfill";
import { processMirrorTask } from "../../src/core/mirror/processMirrorTask";
import { verifyMirror } from "../../src/core/mirror/verify";
import { counted, installOpCounter } from "../../bench/opCounter";
import { ManualClock, testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { historyItem, putUser } from "../harness/mirrorData";

/**
 * What a backfill and a verify cost in billed Firestore operations, counted at the SDK
 * (bench/opCounter.ts): the numbers of the README's "Backfill and drift" section. 100 items of 3
 * users in pages of 40; the clock stands still, so the cursor is saved only when the lease is
 * taken and given up (a moving clock adds at most one write a second).
 */
installOpCounter();
let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("bf-costs");
});
beforeEach(() => fs.clear());
afterAll(() => fs.close());

const N = 100;
// Pages of 40, 40 and 20: the last is not full, so no query comes back empty (that would cost 1 read more).
const PAGE = 40;
const QUERY_READS = N;
// users/{uid} once a page for each owner of a public, mirrored item on it. Items are walked in path
// order, owner after owner (u0: 34 items, u1: 33, u2: 33), so the pages hold u0 and u1, u1 and u2, u2.
const PROFILE_READS = 2 + 2 + 1;

async function seed(db: Firestore): Promise<void> {
  for (let u = 0; u < 3; u++) await putUser(db, `u${u}`);
  const writer = db.bulkWriter();
  for (let i = 0; i < N; i++)
    writer.set(db.doc(`generationHistory/u${i % 3}/items/h${String(i).padStart(3, "0")}`), historyItem(`u${i % 3}`, `h${i}`));
  await writer.close();
}

const backfill = (options: BackfillOptions = {}) => {
  const deps = testDeps(fs.db, { clock: new ManualClock() });
  return runBackfill(deps, { rate: 5000, pageSize: PAGE, ...options });
};
const apply = (taskId: string) => processMirrorTask(testDeps(fs.db), taskId);

describe("a backfill", () => {
  it("of an empty mirror: 2 reads an item (the item, its mirror doc) and 1 write an item that needs a task (the enqueue); the cursor doc 1 read, 2 writes a run", async () => {
    await seed(fs.db);
    const { ops, result } = await counted(() => backfill());
    expect(result.tasks.enqueued).toBe(N);
    expect({ reads: ops.reads, writes: ops.writes }).toEqual({ reads: 1 + QUERY_READS + N, writes: 2 + N });
  });

  it("applying its tasks itself (the CLI): each task adds what the queue's trigger path costs, plus the read of the task", async () => {
    await seed(fs.db);
    const { ops } = await counted(() => backfill({ apply }));
    // Each task: the task doc (1), then as the trigger: source, mirror, profile (3); mirror + done, the claim in that commit (2).
    expect({ reads: ops.reads, writes: ops.writes }).toEqual({ reads: 1 + QUERY_READS + N + N * 4, writes: 2 + N + N * 2 });
  });

  it("of a mirror in sync: reads only (item, mirror doc, and each owner's profile once a page), no task", async () => {
    await seed(fs.db);
    await backfill({ apply });
    const { ops, result } = await counted(() => backfill());
    expect(result).toMatchObject({ matching: N, tasks: { enqueued: 0 } });
    expect({ reads: ops.reads, writes: ops.writes }).toEqual({ reads: 1 + QUERY_READS + N + PROFILE_READS, writes: 2 });
  });

  it("a dry run: the walk's reads, no write at all", async () => {
    await seed(fs.db);
    const { ops } = await counted(() => backfill({ dryRun: true }));
    expect({ reads: ops.reads, writes: ops.writes }).toEqual({ reads: QUERY_READS + N, writes: 0 });
  });
});

describe("a verify", () => {
  it("of a mirror in sync: the backfill's reads for the items, then 2 reads a mirror doc (the doc, its item), no write", async () => {
    await seed(fs.db);
    await backfill({ apply });
    const { ops, result } = await counted(() =>
      verifyMirror(testDeps(fs.db, { clock: new ManualClock() }), { rate: 5000, pageSize: PAGE }),
    );
    expect(result.inSync).toBe(true);
    expect({ reads: ops.reads, writes: ops.writes }).toEqual({ reads: QUERY_READS + N + PROFILE_READS + QUERY_READS + N, writes: 0 });
  });
});
