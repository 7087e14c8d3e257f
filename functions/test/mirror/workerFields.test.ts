import { Timestamp } from "firebase-admin/firestore";
import { drainQueue } from "../../src/core/mirror/drain";
import { claimTask, recordFailure } from "../../src/core/mirror/lease";
import { sweepMirrorQueue } from "../../src/core/mirror/sweep";
import { getQueueStatus } from "../../src/core/mirror/queueStatus";
import { MirrorQueueWorker } from "../../src/core/mirror/queueWorker";
import { ManualClock, testDeps } from "../harness/deps";
import { enqueue, enqueueRaw, putHistoryItem, taskDoc } from "../harness/mirrorData";
import { POLLING_PATHS, useMirrorTestBed } from "../harness/mirrorPaths";

/**
 * Worker fields no correct worker writes: a dead letter that still carries a retry time, a lease or
 * a retry time further ahead than a worker could have written, a status no worker knows behind a
 * full backlog. None may starve the queue or hold a task longer than the workers' own maximum.
 */
const bed = useMirrorTestBed("workerfields");

const deps = (over: Parameters<typeof testDeps>[1] = {}) => testDeps(bed.fs.db, over);
const DAY = 86_400_000;

/** Failed tasks marked dead letters by hand that still carry a past retry time (the workers' own marks delete it). */
async function handMarkedDeadLetters(n: number): Promise<string[]> {
  const writer = bed.fs.db.bulkWriter();
  const ids = Array.from({ length: n }, (_, i) => `poison${String(i).padStart(4, "0")}`);
  for (const [i, id] of ids.entries()) {
    void writer.set(bed.fs.db.doc(`mirrorQueue/${id}`), {
      op: "upsert",
      uid: "u1",
      historyId: `p${i}`,
      createdAt: Timestamp.now(),
      status: "failed",
      deadLetter: true,
      attempts: 1,
      lastError: "marked by hand",
      nextAttemptAt: Timestamp.fromMillis(Date.now() - 60_000 - i),
    });
  }
  await writer.close();
  return ids;
}

async function goodTasks(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    await putHistoryItem(bed.fs.db, "u1", `g${i}`);
    ids.push(await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: `g${i}` }));
  }
  return ids;
}

const statuses = async (ids: string[]) => Promise.all(ids.map(async (id) => (await taskDoc(bed.fs.db, id)).status));

describe("dead letters that still carry a past retry time", () => {
  it("standalone worker: a batch full of them is set aside again, with a write, and the good tasks behind run", async () => {
    const poison = await handMarkedDeadLetters(12);
    const good = await goodTasks(3);
    const worker = new MirrorQueueWorker(deps({ config: { MIRROR_BATCH_LIMIT: 12 } }));
    await worker.pollOnce();
    await worker.pollOnce();
    expect(await statuses(good)).toEqual(["done", "done", "done"]);
    for (const id of poison) {
      const t = await taskDoc(bed.fs.db, id);
      expect(t).toMatchObject({ status: "failed", deadLetter: true, lastError: "marked by hand" });
      expect(t.nextAttemptAt).toBeUndefined();
    }
  });

  it("sweep: a full batch of them hides no good task for more than one run", async () => {
    await handMarkedDeadLetters(100);
    const good = await goodTasks(2);
    await sweepMirrorQueue(deps(), { limit: 100 });
    await sweepMirrorQueue(deps(), { limit: 100 });
    expect(await statuses(good)).toEqual(["done", "done"]);
  });

  it("drain: goes through them and drains the good tasks, stuck on none", async () => {
    await handMarkedDeadLetters(100);
    const good = await goodTasks(2);
    const report = await drainQueue(deps(), { limit: 100 });
    expect(report.stuck).toEqual([]);
    expect(await statuses(good)).toEqual(["done", "done"]);
  });
});

describe.each(POLLING_PATHS)("through the %s, a lease or retry time no worker could have written", (path) => {
  const takenOver = async (id: string, clock = new ManualClock()) => {
    await bed.paths.run(path, id, deps({ clock }));
    expect(await taskDoc(bed.fs.db, id)).toMatchObject({ status: "done", outcome: "published" });
  };

  it("a claim by a worker whose clock is a day fast, which then died, is taken over at once", async () => {
    await putHistoryItem(bed.fs.db, "u1", "h1");
    const id = await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1" });
    await claimTask(await bed.fs.db.doc(`mirrorQueue/${id}`).get(), "fast-vm:dead", 1, Date.now() + DAY, 60_000);
    await takenOver(id);
  });

  it("a claim by a worker whose clock is 10 minutes fast, which then died, is taken over at once", async () => {
    await putHistoryItem(bed.fs.db, "u1", "h1");
    const id = await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1" });
    await claimTask(await bed.fs.db.doc(`mirrorQueue/${id}`).get(), "fast-vm:dead", 1, Date.now() + 10 * 60_000, 60_000);
    await takenOver(id);
  });

  it("a retry time written by a worker whose clock is a day fast is due at once", async () => {
    await putHistoryItem(bed.fs.db, "u1", "h1");
    const id = await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1" });
    const fastNow = Date.now() + DAY;
    const claim = await claimTask(await bed.fs.db.doc(`mirrorQueue/${id}`).get(), "fast-vm", 1, fastNow, 60_000);
    if (claim.kind !== "written") throw new Error(`claim: ${claim.kind}`);
    await recordFailure(claim.value, "UNAVAILABLE (transient)", false, fastNow, 5);
    expect(await taskDoc(bed.fs.db, id)).toMatchObject({ status: "failed", deadLetter: false });
    await takenOver(id);
  });

  it.each([
    [
      "a year-9999 lease",
      { status: "processing", attempts: 1, leaseExpiresAt: Timestamp.fromDate(new Date("9999-01-01T00:00:00Z")) },
      "leases",
    ],
    [
      "a year-9999 retry time",
      { status: "failed", deadLetter: false, attempts: 1, nextAttemptAt: Timestamp.fromDate(new Date("9999-01-01T00:00:00Z")) },
      "retries",
    ],
  ])("%s is shown by status, and the task is taken at once", async (_label, fields, kind) => {
    await putHistoryItem(bed.fs.db, "u1", "h1");
    const id = await enqueueRaw(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1", createdAt: Timestamp.now(), ...fields });
    const status = await getQueueStatus(bed.fs.db, Date.now(), { maxAttempts: 5, leaseMs: 60_000 });
    expect(status.implausibleTimes).toMatchObject({ [kind]: 1, taskIds: [id] });
    await takenOver(id);
  });
});

it("a lease a correct worker wrote is respected: its task is not taken over before it runs out", async () => {
  await putHistoryItem(bed.fs.db, "u1", "h1");
  const id = await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1" });
  // A worker whose clock is 30 s fast: within what the workers tolerate.
  await claimTask(await bed.fs.db.doc(`mirrorQueue/${id}`).get(), "slightly-fast", 1, Date.now() + 30_000, 60_000);
  await sweepMirrorQueue(deps(), { limit: 10 });
  await new MirrorQueueWorker(deps()).pollOnce();
  expect(await taskDoc(bed.fs.db, id)).toMatchObject({ status: "processing", leaseOwner: "slightly-fast" });
});

it("a task only the audit finds is handed out even when pending tasks fill the batch, and the audit cursor does not pass it", async () => {
  const writer = bed.fs.db.bulkWriter();
  for (let i = 0; i < 300; i++)
    void writer.set(bed.fs.db.doc(`mirrorQueue/done${String(i).padStart(4, "0")}`), {
      op: "upsert",
      uid: "u1",
      historyId: "x",
      status: "done",
      createdAt: Timestamp.now(),
    });
  await writer.close();
  const weird = await enqueueRaw(
    bed.fs.db,
    { op: "upsert", uid: "u1", historyId: "hq", status: "queued", createdAt: Timestamp.now() },
    "a-weird",
  );
  await goodTasks(30);
  const worker = new MirrorQueueWorker(deps({ config: { MIRROR_BATCH_LIMIT: 12 } }));
  await worker.pollOnce();
  const t = await taskDoc(bed.fs.db, weird);
  expect(t).toMatchObject({ status: "failed", deadLetter: true });
  expect(t.lastError).toMatch(/status: status must be one of/);
});

it("the audit hands out no more than a batch, and its cursor stops at the last one handed out", async () => {
  const writer = bed.fs.db.bulkWriter();
  const weird = Array.from({ length: 20 }, (_, i) => `w${String(i).padStart(2, "0")}`);
  for (const id of weird)
    void writer.set(bed.fs.db.doc(`mirrorQueue/${id}`), {
      op: "upsert",
      uid: "u1",
      historyId: "hq",
      status: "queued",
      createdAt: Timestamp.now(),
    });
  await writer.close();
  const clock = new ManualClock();
  const worker = new MirrorQueueWorker(deps({ clock, config: { MIRROR_BATCH_LIMIT: 12 } }));
  await worker.pollOnce();
  expect((await statuses(weird)).filter((s) => s === "failed")).toHaveLength(12);
  expect((await bed.fs.db.doc("workerState/mirrorQueueAudit").get()).get("after")).toBe("w11");
  clock.advance(61_000); // the next audit
  await worker.pollOnce();
  expect(new Set(await statuses(weird))).toEqual(new Set(["failed"]));
});
