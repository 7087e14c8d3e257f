import { Timestamp } from "firebase-admin/firestore";
import { drainQueue } from "../../src/core/mirror/drain";
import { processMirrorTask } from "../../src/core/mirror/processMirrorTask";
import { sweepMirrorQueue } from "../../src/core/mirror/sweep";
import { getQueueStatus } from "../../src/core/mirror/queueStatus";
import { MirrorQueueWorker } from "../../src/core/mirror/queueWorker";
import { requeueDeadLetters } from "../../src/core/mirror/requeue";
import { ManualClock, memoryLogger, testDeps } from "../harness/deps";
import { eventually, eventuallyWhileProgressing } from "../harness/firestore";
import { injectCommitFaults, unavailable } from "../harness/commitFaults";
import { enqueue, enqueueNearLimit, enqueueRaw, mirrorDoc, putHistoryItem, putUser, taskDoc } from "../harness/mirrorData";
import { MIRROR_PATHS, POLLING_PATHS, useMirrorTestBed } from "../harness/mirrorPaths";
import { counted, installOpCounter } from "../../bench/opCounter";

/** Issue: every task reaches `done` or a dead letter, in bounded time and bounded cost. */
installOpCounter();
const bed = useMirrorTestBed("endstates");

const deps = (over: Parameters<typeof testDeps>[1] = {}) => testDeps(bed.fs.db, over);
const item = (historyId: string, over: Record<string, unknown> = {}) => putHistoryItem(bed.fs.db, "u1", historyId, over);
const DAY = 86_400_000;
const foundBy = async (run: Promise<{ results: { taskId: string }[] }>) => (await run).results.map((r) => r.taskId);

describe("ordering", () => {
  // Ordering decides one case only: a removal that arrives while the source still says public
  // (every write mirrors the source as it is now, and a private source is always unpublished).
  it("uses the full Timestamp: a removal 0.3 ms older than the applied update is stale when it arrives last", async () => {
    await item("h1");
    await processMirrorTask(
      deps(),
      await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1", status: "pending" }, Date.now() - 10_000),
    );
    const seconds = Math.floor(Date.now() / 1000);
    const older = new Timestamp(seconds, 100_000);
    const newer = new Timestamp(seconds, 400_000);
    expect(newer.toMillis()).toBe(older.toMillis());
    // Ids that sort the other way, so only the nanoseconds can order the two.
    const olderTask = await enqueueRaw(
      bed.fs.db,
      { op: "remove", uid: "u1", historyId: "h1", status: "pending", createdAt: older },
      "z-older",
    );
    const newerTask = await enqueueRaw(
      bed.fs.db,
      { op: "update", uid: "u1", historyId: "h1", status: "pending", createdAt: newer, updates: { prompt: "newer" } },
      "a-newer",
    );

    expect(await processMirrorTask(deps(), newerTask)).toMatchObject({ outcome: "updated" });
    expect(await processMirrorTask(deps(), olderTask)).toMatchObject({ status: "done", outcome: "stale" });
    expect(await mirrorDoc(bed.fs.db, "h1")).toMatchObject({ mirrorTaskId: "a-newer" });
  });

  it.each([
    ["a then b", ["tie-a", "tie-b"]],
    ["b then a", ["tie-b", "tie-a"]],
  ])("breaks a tie of equal createdAt by task id, whatever the arrival order (%s)", async (_label, order) => {
    await item("h1");
    await processMirrorTask(
      deps(),
      await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1", status: "pending" }, Date.now() - 10_000),
    );
    const at = Timestamp.now();
    await enqueueRaw(bed.fs.db, { op: "remove", uid: "u1", historyId: "h1", status: "pending", createdAt: at }, "tie-a");
    await enqueueRaw(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1", status: "pending", createdAt: at }, "tie-b");
    for (const id of order) await processMirrorTask(deps(), id);
    // tie-b counts as newer: the removal never wins, in either order.
    expect(await mirrorDoc(bed.fs.db, "h1")).toMatchObject({ mirrorTaskId: "tie-b" });
  });
});

const BAD_CREATED_AT: [string, unknown, RegExp][] = [
  ["missing", undefined, /createdAt: createdAt must be a Firestore Timestamp, got nothing/],
  ["a string", "2024-05-01T10:00:00Z", /createdAt must be a Firestore Timestamp, got "2024-05-01T10:00:00Z"/],
  ["a number", 1_714_557_600_000, /createdAt must be a Firestore Timestamp, got 1714557600000/],
  ["a day ahead", "tomorrow", /createdAt: createdAt is [\d,]+ s ahead of the time Firestore created the task \(at most 60 s allowed\)/],
];
const createdAtField = (value: unknown) =>
  value === undefined ? {} : { createdAt: value === "tomorrow" ? Timestamp.fromMillis(Date.now() + DAY) : value };

describe.each(POLLING_PATHS)("found by the %s", (path) => {
  describe.each([
    ["pending", { status: "pending" }],
    ["written without status", {}],
  ])("a task %s", (_label, status) => {
    it.each(BAD_CREATED_AT)(
      "whose createdAt is %s is dead-lettered at once, naming createdAt, and not found again",
      async (_l, createdAt, error) => {
        await item("h1");
        const taskId = await enqueueRaw(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1", ...status, ...createdAtField(createdAt) });
        await bed.paths.run(path, taskId, deps());
        const task = await taskDoc(bed.fs.db, taskId);
        expect(task).toMatchObject({ status: "failed", deadLetter: true, attempts: 1 });
        expect(task.lastError).toMatch(error);
        expect(await mirrorDoc(bed.fs.db, "h1")).toBeUndefined();
        expect(await foundBy(sweepMirrorQueue(deps()))).not.toContain(taskId);
      },
    );

    it("back-dated by a year is processed", async () => {
      await item("h1");
      const taskId = await enqueueRaw(bed.fs.db, {
        op: "upsert",
        uid: "u1",
        historyId: "h1",
        ...status,
        createdAt: Timestamp.fromMillis(Date.now() - 365 * DAY),
      });
      await bed.paths.run(path, taskId, deps());
      expect(await taskDoc(bed.fs.db, taskId)).toMatchObject({ status: "done", outcome: "published" });
    });
  });

  it("a task without status committed behind one already seen (ordinary write latency) is still processed", async () => {
    await item("h1");
    await item("h2");
    const now = Date.now();
    const first = await enqueueRaw(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1", createdAt: Timestamp.fromMillis(now) });
    await bed.paths.run(path, first, deps());
    expect(await taskDoc(bed.fs.db, first)).toMatchObject({ status: "done" });
    const late = await enqueueRaw(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h2", createdAt: Timestamp.fromMillis(now - 300) });
    await bed.paths.run(path, late, deps());
    expect(await taskDoc(bed.fs.db, late)).toMatchObject({ status: "done", outcome: "published" });
  });

  it("a task without status dated tomorrow is refused, and hides none of the tasks written after it", async () => {
    await item("h1");
    await item("h2");
    const tomorrow = await enqueueRaw(bed.fs.db, {
      op: "upsert",
      uid: "u1",
      historyId: "h1",
      createdAt: Timestamp.fromMillis(Date.now() + DAY),
    });
    await bed.paths.run(path, tomorrow, deps());
    expect(await taskDoc(bed.fs.db, tomorrow)).toMatchObject({ status: "failed", deadLetter: true });
    const today = await enqueueRaw(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h2", createdAt: Timestamp.now() });
    await bed.paths.run(path, today, deps());
    expect(await taskDoc(bed.fs.db, today)).toMatchObject({ status: "done", outcome: "published" });
  });
});

it("an idle worker's poll reads a handful of docs, however many done tasks the queue keeps and whatever their createdAt holds", async () => {
  const writer = bed.fs.db.bulkWriter();
  for (let i = 0; i < 150; i++)
    void writer.set(bed.fs.db.doc(`mirrorQueue/done-${i}`), {
      op: "remove",
      uid: "u1",
      historyId: `h${i}`,
      status: "done",
      createdAt: Timestamp.fromMillis(Date.now() - i),
    });
  await writer.close();
  const odd = await enqueueRaw(bed.fs.db, { op: "upsert", uid: "u1", historyId: "odd", createdAt: "yesterday" });
  const worker = new MirrorQueueWorker(deps());
  await worker.pollOnce();
  expect(await taskDoc(bed.fs.db, odd)).toMatchObject({ status: "failed", deadLetter: true });

  const { ops } = await counted(async () => {
    for (let i = 0; i < 5; i++) await worker.pollOnce();
  });
  // Per poll: the retry-due, lease-expired and pending queries, and the pending query's wrap-around.
  expect({ reads: ops.reads, writes: ops.writes + ops.deletes }).toEqual({ reads: 5 * 4, writes: 0 });
});

describe.each(MIRROR_PATHS)("through the %s", (path) => {
  it("a task too large to take a claim is set aside at once, and the tasks behind it are processed", async () => {
    for (const h of ["h1", "h2", "h3"]) await item(h);
    const big = await enqueueNearLimit(bed.fs.db, "u1", "h0");
    const others = [];
    for (const h of ["h1", "h2", "h3"]) others.push(await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: h, status: "pending" }));
    await bed.paths.run(path, big, deps());
    if (path === "trigger") for (const id of others) await bed.paths.run(path, id, deps());

    const task = await taskDoc(bed.fs.db, big);
    expect(task).toMatchObject({ status: "failed", deadLetter: true, attempts: 1, op: "upsert", uid: "u1", historyId: "h0" });
    expect(task.lastError).toMatch(
      /^the task document is too large for the workers to record anything on it \([\d,]+ bytes of Firestore's 1,048,576; largest fields: snapshot/,
    );
    expect(task.removedFields.snapshot).toBeGreaterThan(1_000_000);
    for (const id of others) expect(await taskDoc(bed.fs.db, id)).toMatchObject({ status: "done" });
    expect(await foundBy(sweepMirrorQueue(deps()))).toEqual([]);
  });
});

describe("ids and sizes Firestore refuses", () => {
  it.each([
    ["historyId", "a reserved id", "__x__", 'historyId: historyId must not look like "__name__": Firestore reserves those ids'],
    ["uid", "a reserved id", "__u__", 'uid: uid must not look like "__name__": Firestore reserves those ids'],
    ["historyId", "over 1,500 bytes", "a".repeat(1501), "historyId: historyId is longer than Firestore's 1,500-byte id limit"],
    [
      "historyId",
      "800 two-byte characters (1,600 bytes)",
      "é".repeat(800),
      "historyId: historyId is longer than Firestore's 1,500-byte id limit",
    ],
  ])("a %s that is %s fails once, at once, with a clear error", async (field, _label, value, error) => {
    const taskId = await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1", status: "pending", [field]: value });
    expect(await processMirrorTask(deps(), taskId)).toMatchObject({ status: "invalid", attempt: 1 });
    expect(await taskDoc(bed.fs.db, taskId)).toMatchObject({
      status: "failed",
      deadLetter: true,
      attempts: 1,
      lastError: `invalid task: ${error}`,
    });
  });

  it("an item whose public copy would exceed 1 MiB fails at once, naming the size and the largest fields", async () => {
    await bed.fs.db.doc("users/u1").set({ username: "u1", displayName: "N".repeat(20_000), photoURL: null });
    await item("h1", { prompt: "p".repeat(1_040_000) });
    const logger = memoryLogger();
    const taskId = await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1", status: "pending" });
    expect(await processMirrorTask(deps({ logger }), taskId)).toMatchObject({ status: "dead-letter", attempt: 1 });
    const task = await taskDoc(bed.fs.db, taskId);
    expect(task).toMatchObject({ status: "failed", deadLetter: true, attempts: 1 });
    expect(task.lastError).toMatch(
      /^the mirror doc publicGenerations\/h1 would be [\d,]+ bytes, over Firestore's 1 MiB limit \(largest fields: prompt \(1,040,\d+ bytes\), createdBy/,
    );
    expect(await mirrorDoc(bed.fs.db, "h1")).toBeUndefined();
    expect(logger.entries.find((e) => e.message === "task.failed")).toMatchObject({
      permanent: true,
      error: { name: "PermanentError", message: task.lastError },
    });
  });
});

describe("worker fields of the wrong type", () => {
  it.each([
    ["NaN", NaN],
    ["-100", -100],
    ["a string", "3"],
    ["a fraction", 1.5],
  ])("attempts %s: the task is set aside at once, naming attempts, never run and never found again", async (_label, attempts) => {
    await item("h1");
    const taskId = await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1", status: "pending", attempts });
    expect(await processMirrorTask(deps(), taskId)).toMatchObject({ status: "invalid", attempt: 1 });
    const task = await taskDoc(bed.fs.db, taskId);
    expect(task).toMatchObject({ status: "failed", deadLetter: true, attempts: 1 });
    expect(task.lastError).toMatch(/^invalid task: attempts: attempts must be a whole number >= 0 or absent, got /);
    expect(await mirrorDoc(bed.fs.db, "h1")).toBeUndefined();
    expect(await foundBy(sweepMirrorQueue(deps()))).not.toContain(taskId);
  });

  it("a status no worker knows is dead-lettered, naming status", async () => {
    const taskId = await enqueue(bed.fs.db, { op: "remove", uid: "u1", historyId: "h1", status: "queued" });
    await sweepMirrorQueue(deps());
    expect(await taskDoc(bed.fs.db, taskId)).toMatchObject({
      status: "failed",
      deadLetter: true,
      lastError: expect.stringMatching(/^invalid task: status: status must be one of/),
    });
  });

  it("a failed task whose retry time is not a Timestamp is retried, not stranded", async () => {
    await item("h1");
    const taskId = await enqueue(bed.fs.db, {
      op: "upsert",
      uid: "u1",
      historyId: "h1",
      status: "failed",
      attempts: 1,
      deadLetter: false,
      nextAttemptAt: "soon",
    });
    await sweepMirrorQueue(deps());
    expect(await taskDoc(bed.fs.db, taskId)).toMatchObject({ status: "done", attempts: 2 });
  });
});

it("lowering MIRROR_MAX_ATTEMPTS turns failed tasks at the new limit into dead letters that status shows and requeue takes back", async () => {
  const now = Date.now();
  const failedTask = (nextAttemptAtMs: number) =>
    enqueue(bed.fs.db, {
      op: "remove",
      uid: "u1",
      historyId: "h1",
      status: "failed",
      attempts: 3,
      deadLetter: false,
      lastError: "boom",
      failedAt: Timestamp.fromMillis(now - 60_000),
      nextAttemptAt: Timestamp.fromMillis(nextAttemptAtMs),
    });
  const due = await failedTask(now - 1000);
  const later = await failedTask(now + 600_000);
  const lowered = deps({ config: { MIRROR_MAX_ATTEMPTS: 2 } });

  const status = await getQueueStatus(bed.fs.db, now, { maxAttempts: 2 });
  expect(status.deadLetters.count).toBe(2);
  expect(status.deadLetters.recent.map((d) => d.taskId).sort()).toEqual([due, later].sort());
  expect(status.retrying).toBe(0);

  const report = await sweepMirrorQueue(lowered);
  expect(report.results).toEqual([expect.objectContaining({ taskId: due, status: "dead-letter" })]);
  expect(await taskDoc(bed.fs.db, due)).toMatchObject({
    status: "failed",
    deadLetter: true,
    attempts: 3,
    lastError: "gave up after 3 attempts (MIRROR_MAX_ATTEMPTS is 2); last error: boom",
  });
  expect(await foundBy(sweepMirrorQueue(lowered))).toEqual([]);

  const requeued = await requeueDeadLetters(bed.fs.db, { maxAttempts: 2 });
  expect(requeued.requeued.sort()).toEqual([due, later].sort());
  for (const id of [due, later]) expect(await taskDoc(bed.fs.db, id)).toMatchObject({ status: "pending", attempts: 0 });
});

describe("progress", () => {
  // Heartbeats every 200 ms: each one says whether the worker is waiting, and until when.
  const slow = { MIRROR_POLL_INTERVAL_MS: 60_000, MIRROR_MAX_BACKOFF_MS: 60_000, WORKER_HEARTBEAT_MS: 200 };

  /**
   * Resolves once a heartbeat shows the worker waiting at least 30 s before its next poll: from then
   * on its poll count cannot grow within the test, however slow the machine. A worker that polls
   * again at once never shows such a wait, and the test fails here.
   */
  const waitingLong = (logger: ReturnType<typeof memoryLogger>) =>
    eventually(
      async () => logger.entries.filter((e) => e.message === "worker.heartbeat").at(-1),
      (beat) => beat?.running === false && Date.parse(String(beat.nextRoundAt)) - Date.parse(String(beat.time)) >= 30_000,
      30_000,
      "a heartbeat of the worker waiting for its interval",
    );

  it("twelve tasks too large to claim: the standalone worker sets them aside and then waits, instead of polling in a loop", async () => {
    for (let i = 0; i < 12; i++) await enqueueNearLimit(bed.fs.db, "u1", `big${i}`);
    const logger = memoryLogger();
    const worker = new MirrorQueueWorker(deps({ config: slow, logger }));
    void worker.start();
    try {
      await eventuallyWhileProgressing(
        async () => (await getQueueStatus(bed.fs.db, Date.now(), { maxAttempts: 5 })).deadLetters.count,
        (count) => count === 12,
        30_000,
        "twelve dead letters",
      );
      await waitingLong(logger);
      // The batch that set them aside, and one that found nothing; then the 60 s interval.
      expect(worker.snapshotStats().polls).toBeLessThanOrEqual(2);
    } finally {
      await worker.stop();
    }
  });

  it("a full batch none of which can be claimed makes the worker wait, not poll again at once", async () => {
    for (let i = 0; i < 12; i++) await enqueue(bed.fs.db, { op: "remove", uid: "u1", historyId: `h${i}`, status: "pending" });
    const undo = injectCommitFaults(bed.fs.db, (written) =>
      written.some((p) => p.startsWith("mirrorQueue/")) ? unavailable() : undefined,
    );
    const logger = memoryLogger();
    const worker = new MirrorQueueWorker(deps({ config: { ...slow, MIRROR_BATCH_LIMIT: 12 }, logger }));
    void worker.start();
    try {
      await eventuallyWhileProgressing(
        async () => logger.entries.filter((e) => e.message === "task.claim_error").length,
        (n) => n >= 12,
        30_000,
        "twelve failed claims",
      );
      await waitingLong(logger);
      expect(worker.snapshotStats().polls).toBe(1);
      expect(logger.entries.find((e) => e.message === "task.claim_error")).toMatchObject({
        error: { message: expect.stringContaining("UNAVAILABLE"), stack: expect.any(String) },
      });
    } finally {
      undo();
      await worker.stop();
    }
  });
});

it("a drain stops after a batch that moves nothing on, and says which tasks are stuck and why", async () => {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(await enqueue(bed.fs.db, { op: "remove", uid: "u1", historyId: `h${i}` }));
  const undo = injectCommitFaults(bed.fs.db, (written) => (written.some((p) => p.startsWith("mirrorQueue/")) ? unavailable() : undefined));
  try {
    const report = await drainQueue(deps(), { limit: 10 });
    expect(report).toMatchObject({ batches: 1, found: 3, done: 0 });
    expect(report.stuck.map((s) => s.taskId).sort()).toEqual(ids.sort());
    for (const s of report.stuck) expect(s).toMatchObject({ reason: "error", error: expect.stringContaining("UNAVAILABLE") });
  } finally {
    undo();
  }
  expect((await drainQueue(deps(), { limit: 10 })).done).toBe(3);
});

it("an apply that outlasts half the lease (a document locked by another transaction) is recorded as a failure, and its late commit changes nothing", async () => {
  await item("h1");
  const taskId = await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1" });
  let release!: () => void;
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  // A real emulator lock: an open transaction that has read the mirror doc, as a stopped worker's would.
  const holder = bed.fs.db.runTransaction(async (tx) => {
    await tx.get(bed.fs.db.doc("publicGenerations/h1"));
    locked();
    await new Promise<void>((r) => (release = r));
  });
  await isLocked;
  const clock = new ManualClock();
  const leased = (c: ManualClock) => deps({ clock: c, config: { MIRROR_LEASE_MS: 2000 } });
  const abandoned = new Set<Promise<unknown>>();
  try {
    const result = await processMirrorTask(leased(clock), taskId, { abandoned });
    expect(result).toMatchObject({
      status: "failed",
      attempt: 1,
      error: expect.stringMatching(/^the task did not apply within 1000 ms \(half of MIRROR_LEASE_MS\)/),
    });
    expect(abandoned.size).toBe(1);
  } finally {
    release();
    await holder;
  }
  // Given up, it makes no further attempt once the lock is gone; nothing of it outlives this test.
  await Promise.all(abandoned);
  expect(await taskDoc(bed.fs.db, taskId)).toMatchObject({ status: "failed", attempts: 1 });
  // Had the abandoned apply committed, the task would be done already and this retry would be skipped.
  clock.advance(15_000);
  expect(await processMirrorTask(leased(clock), taskId)).toMatchObject({ status: "done", attempt: 2, outcome: "published" });
  expect(await taskDoc(bed.fs.db, taskId)).toMatchObject({ status: "done", attempts: 2 });
});

describe("retries", () => {
  it("retries a transient failure with growing backoff, dead-letters it after MIRROR_MAX_ATTEMPTS, and logs the stack and cause", async () => {
    await putUser(bed.fs.db, "u1");
    await item("h1");
    await processMirrorTask(deps(), await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1", status: "pending" }));
    const taskId = await enqueue(bed.fs.db, { op: "update", uid: "u1", historyId: "h1", status: "pending", updates: { prompt: "edited" } });
    const undo = injectCommitFaults(bed.fs.db, (written) =>
      written.includes("publicGenerations/h1")
        ? new Error("injected: connection reset", { cause: new Error("read ECONNRESET") })
        : undefined,
    );
    const clock = new ManualClock();
    const logger = memoryLogger();
    const delays: number[] = [];
    try {
      for (let attempt = 1; attempt <= 5; attempt++) {
        const result = await processMirrorTask(deps({ clock, logger }), taskId, { random: () => 0.5 });
        expect(result).toMatchObject({ attempt, status: attempt < 5 ? "failed" : "dead-letter" });
        const task = await taskDoc(bed.fs.db, taskId);
        expect(task).toMatchObject({ attempts: attempt, lastError: "injected: connection reset" });
        if (attempt === 5) break;
        const due = (task.nextAttemptAt as Timestamp).toMillis() - clock.now();
        delays.push(due);
        expect(await processMirrorTask(deps({ clock }), taskId)).toMatchObject({ status: "skipped", reason: "not-due" });
        clock.advance(due);
      }
    } finally {
      undo();
    }
    expect(delays).toEqual([10_000, 20_000, 40_000, 80_000]);
    expect(await taskDoc(bed.fs.db, taskId)).toMatchObject({ status: "failed", deadLetter: true });
    clock.advance(3600_000);
    expect(await processMirrorTask(deps({ clock }), taskId)).toMatchObject({ status: "skipped", reason: "dead-letter" });
    expect((await mirrorDoc(bed.fs.db, "h1"))!.prompt).toBe("prompt h1");
    const failures = logger.entries.filter((e) => e.message === "task.failed");
    expect(failures).toHaveLength(5);
    expect(failures[4]).toMatchObject({
      severity: "ERROR",
      permanent: false,
      error: {
        message: "injected: connection reset",
        stack: expect.stringContaining("Error: injected"),
        cause: { message: "read ECONNRESET" },
      },
    });
  });
});
