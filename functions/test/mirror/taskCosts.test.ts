import { COMMIT_CLAIM_MAX_AGE_MS } from "../../src/core/mirror/claim";
import { processMirrorTask } from "../../src/core/mirror/processMirrorTask";
import { sweepMirrorQueue } from "../../src/core/mirror/sweep";
import { MirrorQueueWorker } from "../../src/core/mirror/queueWorker";
import { refreshSignupImageCache } from "../../src/core/signupCache/refreshSignupImageCache";
import { ManualClock, testDeps } from "../harness/deps";
import { enqueue, putHistoryItem, putUser } from "../harness/mirrorData";
import { useMirrorTestBed } from "../harness/mirrorPaths";
import { counted, installOpCounter, type OpCounts } from "../../bench/opCounter";

/**
 * What one task costs in billed Firestore operations, counted at the SDK (bench/opCounter.ts): the
 * numbers of the README's cost table. A poll's own queries are counted apart from its tasks.
 */
installOpCounter();
const MIRROR_BATCH = 12; // the seed default of MIRROR_BATCH_LIMIT
const bed = useMirrorTestBed("costs");

const deps = (clock?: ManualClock) => testDeps(bed.fs.db, clock ? { clock } : {});
const N = 10;

/** Billed reads and writes; a delete is billed as a write here, as in the README's table. */
const billed = (ops: OpCounts) => ({ reads: ops.reads, writes: ops.writes + ops.deletes });

async function trigger(task: Record<string, unknown>) {
  const created = await bed.fs.db.doc(`mirrorQueue/${await enqueue(bed.fs.db, task)}`).get();
  return billed((await counted(() => bed.paths.fire(created))).ops);
}

/**
 * A worker's poll of N like tasks. Its queries: the retry-due and lease-expired ones (empty: 1 read
 * each), and the pending one, which reads the N tasks in one or two parts, either side of its
 * cursor (an empty part costs 1 read): N + 2 or N + 3 reads in all.
 */
async function pollOf(task: (i: number) => Record<string, unknown>) {
  const worker = new MirrorQueueWorker(deps());
  await worker.pollOnce(); // the audit, once a minute per worker, out of the way
  for (let i = 0; i < N; i++) await enqueue(bed.fs.db, task(i));
  return billed((await counted(() => worker.pollOnce())).ops);
}

const queryReads = [N + 2, N + 3];

async function publishN(n = N) {
  for (let i = 0; i < n; i++) {
    await putUser(bed.fs.db, `u${i}`);
    await putHistoryItem(bed.fs.db, `u${i}`, `h${i}`);
  }
}

describe("through the trigger (the event holds the task; the claim rides in the commit)", () => {
  it("an upsert that publishes: 3 reads (source, mirror, profile), 2 writes (mirror, done): 5 in all", async () => {
    await publishN();
    expect(await trigger({ op: "upsert", uid: "u0", historyId: "h0" })).toEqual({ reads: 3, writes: 2 });
  });

  it("an update: 2 reads (source, mirror), 2 writes; 1 read more when it changes the images or score", async () => {
    await publishN();
    await trigger({ op: "upsert", uid: "u0", historyId: "h0" });
    expect(await trigger({ op: "update", uid: "u0", historyId: "h0", updates: { prompt: "edited" } })).toEqual({ reads: 2, writes: 2 });
    await bed.fs.db.doc("generationHistory/u0/items/h0").update({ aestheticScore: 3 }); // source first, as the app does
    expect(await trigger({ op: "update", uid: "u0", historyId: "h0", updates: { aestheticScore: 3 } })).toEqual({ reads: 3, writes: 2 });
  });

  it("a remove: 3 reads (source, mirror, signup cache), 3 writes (mirror, owner tombstone, done); 1 write more when the signup cache lists the item", async () => {
    await publishN();
    await trigger({ op: "upsert", uid: "u0", historyId: "h0" });
    await trigger({ op: "upsert", uid: "u1", historyId: "h1" });
    await refreshSignupImageCache(deps());
    expect(await trigger({ op: "remove", uid: "u0", historyId: "h0" })).toEqual({ reads: 3, writes: 4 });
    await bed.fs.db.doc("signupImageCache/current").delete();
    expect(await trigger({ op: "remove", uid: "u1", historyId: "h1" })).toEqual({ reads: 3, writes: 3 });
  });

  it("a task older than COMMIT_CLAIM_MAX_AGE_MS pays for a lease of its own: 1 write more", async () => {
    await publishN(1);
    const taskId = await enqueue(bed.fs.db, { op: "upsert", uid: "u0", historyId: "h0" });
    const clock = new ManualClock(Date.now() + COMMIT_CLAIM_MAX_AGE_MS);
    const snapshot = await bed.fs.db.doc(`mirrorQueue/${taskId}`).get();
    const { ops, result } = await counted(() => processMirrorTask(deps(clock), taskId, { snapshot }));
    expect(result).toMatchObject({ status: "done", attempt: 1 });
    expect(billed(ops)).toEqual({ reads: 3, writes: 3 });
  });
});

describe("through a poller (standalone worker or sweep)", () => {
  it("each task costs the trigger's operations, plus 1 read: the query that found it", async () => {
    await publishN();
    const upserts = await pollOf((i) => ({ op: "upsert", uid: `u${i}`, historyId: `h${i}` }));
    expect(queryReads.map((q) => q + N * 3)).toContain(upserts.reads);
    expect(upserts.writes).toBe(N * 2);
    const updates = await pollOf((i) => ({ op: "update", uid: `u${i}`, historyId: `h${i}`, updates: { prompt: "edited" } }));
    expect(queryReads.map((q) => q + N * 2)).toContain(updates.reads);
    expect(updates.writes).toBe(N * 2);
  });

  it("a busy worker's upsert costs at most 6 billed operations: the task, source and mirror (3 reads), mirror and done (2 writes), and its owner's profile at most once per 30 s", async () => {
    const owners = 10;
    const batches = 5;
    for (let i = 0; i < owners; i++) await putUser(bed.fs.db, `u${i}`);
    const tasks = MIRROR_BATCH * batches;
    for (let i = 0; i < tasks; i++) await putHistoryItem(bed.fs.db, `u${i % owners}`, `h${i}`);
    const worker = new MirrorQueueWorker(deps());
    await worker.pollOnce(); // the audit, once a minute per worker, out of the way
    for (let i = 0; i < tasks; i++) await enqueue(bed.fs.db, { op: "upsert", uid: `u${i % owners}`, historyId: `h${i}` });
    const { ops } = await counted(async () => {
      for (let b = 0; b < batches; b++)
        expect(await worker.pollOnce()).toEqual({ found: MIRROR_BATCH, progressed: MIRROR_BATCH, lostRaces: 0 });
    });
    const cost = billed(ops);
    expect(cost.writes).toBe(tasks * 2);
    // Each task's own: the query's read of it, its source and its mirror. Beside them: each owner's profile once,
    // the retry-due and lease-expired queries once (the pages are full after the first), a wrap of the cursor at most once.
    expect(cost.reads).toBeGreaterThanOrEqual(tasks * 3 + owners + 2);
    expect(cost.reads).toBeLessThanOrEqual(tasks * 3 + owners + 3);
    expect((cost.reads + cost.writes) / tasks).toBeLessThanOrEqual(6);
  });

  it("a poll with nothing to do reads 4 docs (3 queries and the pending query's wrap); the audit step adds its cursors, a page of the queue, and 3 small queries", async () => {
    const writer = bed.fs.db.bulkWriter();
    for (let i = 0; i < 30; i++)
      void writer.set(bed.fs.db.doc(`mirrorQueue/done-${i}`), { op: "remove", uid: "u", historyId: `h${i}`, status: "done" });
    await writer.close();
    // Audit: cursor + page of 30; dead-letter check: cursor + empty query; implausible leases and retry times: 2 empty queries.
    expect(billed((await counted(() => sweepMirrorQueue(deps()))).ops)).toEqual({ reads: 4 + 1 + 30 + 2 + 2, writes: 2 });
    const worker = new MirrorQueueWorker(deps());
    await worker.pollOnce();
    expect(billed((await counted(() => worker.pollOnce())).ops)).toEqual({ reads: 4, writes: 0 });
  });
});
