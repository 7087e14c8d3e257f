import { Timestamp, type Firestore } from "firebase-admin/firestore";
import { documentCreatedEvent } from "../../dev/firestoreEvents";
import { firestoreCode, GrpcStatus } from "../../src/core/errors";
import { createTestFirestore, eventually, eventuallyWhileProgressing, type TestFirestore } from "../harness/firestore";
import { enqueue } from "../harness/mirrorData";
import { killAll, Pace, startMeasured, startWorkerProcess, within, type WorkerProcess } from "../harness/processes";
import { functionsRuntimeEnv } from "../../dev/functionsRuntime";

/**
 * The standalone mirrorQueueWorker as real processes against the emulator: several at once with
 * the trigger path, killed, and stopped with SIGTERM. Every deadline is a multiple of the measured
 * start of one worker in the same test (Pace in test/harness/processes.ts), so a busy machine waits longer.
 */
let fs: TestFirestore;
let started: WorkerProcess[] = [];
// A project of its own per test, not one cleared between tests: the emulator refuses to clear a project while a
// transaction of a killed worker still holds a lock (HTTP 409, "Transaction lock timeout").
beforeEach(() => {
  fs = createTestFirestore("workers");
});
afterEach(async () => {
  await killAll(started);
  started = [];
  await fs.close();
});

const FAST = { MIRROR_POLL_INTERVAL_MS: "100", MIRROR_MAX_BACKOFF_MS: "400", WORKER_HEARTBEAT_MS: "1000" };
const worker = (env: Record<string, string> = {}) => {
  const w = startWorkerProcess("mirrorQueueWorker.js", fs.projectId, { ...FAST, ...env });
  started.push(w);
  return w;
};

async function seedTasks(db: Firestore, count: number, prefix: string, fields: Record<string, unknown> = {}): Promise<string[]> {
  const writer = db.bulkWriter();
  const t0 = Date.now();
  for (let i = 0; i < count; i++) {
    writer.set(db.doc(`generationHistory/u${i % 7}/items/${prefix}${i}`), {
      uid: `u${i % 7}`,
      prompt: `p${i}`,
      isPublic: true,
      isDeleted: false,
      images: [],
    });
  }
  await writer.close();
  const ids: string[] = [];
  for (let i = 0; i < count; i += 50) {
    ids.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(50, count - i) }, (_, j) =>
          enqueue(db, { op: "upsert", uid: `u${(i + j) % 7}`, historyId: `${prefix}${i + j}`, ...fields }, t0 + i + j),
        ),
      )),
    );
  }
  return ids;
}

const tasksByStatus = async (db: Firestore) => {
  const snap = await db.collection("mirrorQueue").get();
  const by: Record<string, number> = {};
  for (const d of snap.docs) by[d.get("status") ?? "none"] = (by[d.get("status") ?? "none"] ?? 0) + 1;
  return by;
};

const TRANSIENT: (number | undefined)[] = [GrpcStatus.CANCELLED, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.UNAVAILABLE];

const completedIds = (w: WorkerProcess) => w.logs.filter((l) => l.message === "task.completed").map((l) => l.taskId as string);

it("three worker processes and the trigger path race over 300 tasks: each done once, none lost", async () => {
  // The tasks and their creation events first (each event carries its task as created), then the pollers and the
  // trigger all at once.
  const ids = await seedTasks(fs.db, 300, "race");
  const events = (await fs.db.getAll(...ids.map((id) => fs.db.doc(`mirrorQueue/${id}`)))).map((snap) =>
    documentCreatedEvent(snap, fs.projectId),
  );
  const { processes: workers, startMs } = await startMeasured(3, () => worker());

  Object.assign(process.env, functionsRuntimeEnv(fs.projectId));
  const { onMirrorQueueTaskCreated } = await import("../../src/index");

  // The deployed trigger logs through firebase-functions/logger: its completions are counted there.
  const fromTrigger: string[] = [];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const spy = jest.spyOn(require("firebase-functions/logger"), "write").mockImplementation((entry) => {
    const e = entry as Record<string, unknown>;
    if (e.message === "task.completed" && e.entryPoint === "onMirrorQueueTaskCreated") fromTrigger.push(e.taskId as string);
  });
  const level = process.env.LOG_LEVEL;
  process.env.LOG_LEVEL = "INFO";
  try {
    // The trigger fires for every task, as Firestore would, while the pollers compete for the same tasks. An
    // invocation may fail on a starved machine (a read past its deadline): the task stays due for the pollers, as
    // a deployed trigger's failure leaves it for the sweep; only Firestore's transient codes may end one.
    const ends = await Promise.allSettled(events.map((event) => onMirrorQueueTaskCreated(event)));
    const failures = ends.flatMap((end) => (end.status === "rejected" ? [firestoreCode(end.reason)] : []));
    expect(failures.filter((code) => !TRANSIENT.includes(code))).toEqual([]);
  } finally {
    spy.mockRestore();
    process.env.LOG_LEVEL = level;
  }

  await eventuallyWhileProgressing(
    () => tasksByStatus(fs.db),
    (by) => by.done === 300,
    Pace.STALL_STARTS * startMs,
    "all tasks done",
  );
  const tasks = await fs.db.collection("mirrorQueue").get();
  // Named with their last error, should one have run twice.
  const rerun = tasks.docs
    .filter((d) => d.get("attempts") !== 1)
    .map((d) => ({ id: d.id, attempts: d.get("attempts"), lastError: d.get("lastError") }));
  expect(rerun).toEqual([]);
  const mirrors = await fs.db.collection("publicGenerations").get();
  expect(mirrors.size).toBe(300);
  const byTask = new Map(tasks.docs.map((d) => [d.get("historyId"), d.id]));
  for (const m of mirrors.docs) expect(m.get("mirrorTaskId")).toBe(byTask.get(m.id));

  // Each task completed exactly once, by one of the processes or by the trigger.
  const fromWorkers = workers.flatMap(completedIds);
  expect([...fromWorkers, ...fromTrigger].sort()).toEqual([...ids].sort());

  for (const w of workers) w.child.kill("SIGTERM");
  for (const w of workers) expect((await w.exited).code).toBe(0);
});

/**
 * Whether a history item is free of transaction locks: a rewrite of it with the same data lands within `ms`, where a
 * lock (a worker frozen inside its apply transaction, which has read the item) holds it back until Firestore expires
 * the transaction, about 60 s later. A write too slow on a busy machine reads as locked: the caller looks again.
 */
async function unlocked(db: Firestore, path: string, ms: number): Promise<boolean> {
  const data = (await db.doc(path).get()).data()!;
  const write = db
    .doc(path)
    .set(data)
    .then(() => true);
  return within(write, ms, "the write").catch(() => false);
}

// Tasks that have run before (here: failed once, their retry due) are claimed with a lease (claim.ts): a worker that
// dies holding one leaves it `processing` until the lease runs out, and the lost run counts. Killed inside its apply
// transaction, a worker would leave the item's documents locked until Firestore expires the transaction, about 60 s
// later (the README says what that costs); the test kills it holding a claim, between transactions, to show the
// takeover itself.
it("a worker killed with SIGKILL mid-batch: another worker completes its leased tasks after the lease runs out", async () => {
  const retry = {
    status: "failed",
    attempts: 1,
    deadLetter: false,
    lastError: "earlier failure",
    nextAttemptAt: Timestamp.fromMillis(Date.now() - 1000),
  };
  const ids = await seedTasks(fs.db, 60, "kill", retry);
  const leaseMs = 3000;
  const victim = worker({ MIRROR_POOL_SIZE: "1", MIRROR_BATCH_LIMIT: "60", MIRROR_LEASE_MS: String(leaseMs) });
  const startMs = await victim.started;
  const owner = `mirror-${victim.pid}-`;
  const held = async () =>
    (await fs.db.collection("mirrorQueue").where("status", "==", "processing").get()).docs.filter((d) =>
      String(d.get("leaseOwner")).startsWith(owner),
    );

  // Freeze the worker, and look at what it holds: a task claimed and not finished, its item not locked. A write the
  // worker sent just before it froze may still land: a task counts as held only when it is held both before and after
  // the lock checks (round trips of their own), however long the emulator takes to answer.
  let holding: string[] = [];
  const look = await eventuallyWhileProgressing(
    async () => {
      victim.child.kill("SIGSTOP");
      const tasks = await held();
      const free = await Promise.all(
        tasks.map((t) => unlocked(fs.db, `generationHistory/${t.get("uid")}/items/${t.get("historyId")}`, startMs)),
      );
      const still = new Set((await held()).map((t) => t.id));
      holding = tasks.length && free.every(Boolean) ? tasks.map((t) => t.id).filter((id) => still.has(id)) : [];
      if (holding.length === 0) victim.child.kill("SIGCONT");
      // Once every task is done, nothing is left to catch it holding: the wait ends, and fails below.
      return { holding: holding.length, done: (await tasksByStatus(fs.db)).done ?? 0 };
    },
    (now) => now.holding > 0 || now.done === ids.length,
    Pace.STALL_STARTS * startMs,
    "the worker holding a task outside a transaction",
  );
  expect(look.holding).toBeGreaterThan(0);
  victim.child.kill("SIGKILL");
  expect((await victim.exited).signal).toBe("SIGKILL");

  const rescuer = worker({ MIRROR_LEASE_MS: String(leaseMs) });
  await rescuer.started;
  // Nothing moves until the dead worker's leases run out.
  await eventuallyWhileProgressing(
    () => tasksByStatus(fs.db),
    (by) => by.done === ids.length,
    leaseMs + Pace.STALL_STARTS * startMs,
    "all tasks done",
  );
  for (const taskId of holding) {
    const task = (await fs.db.doc(`mirrorQueue/${taskId}`).get()).data()!;
    expect(task.attempts).toBe(3);
    expect(completedIds(rescuer)).toContain(taskId);
  }
  expect((await fs.db.collection("publicGenerations").get()).size).toBe(ids.length);
  rescuer.child.kill("SIGTERM");
  expect((await rescuer.exited).code).toBe(0);
});

it("SIGTERM mid-batch: exits 0 and leaves no task half-done", async () => {
  const ids = await seedTasks(fs.db, 80, "term");
  const w = worker({ MIRROR_POOL_SIZE: "2", MIRROR_BATCH_LIMIT: "40" });
  const startMs = await w.started;
  await eventually(
    () => tasksByStatus(fs.db),
    (by) => (by.done ?? 0) > 0,
    Pace.STALL_STARTS * startMs,
    "work started",
  );
  w.child.kill("SIGTERM");
  expect(await w.exited).toEqual({ code: 0, signal: null });
  expect(w.logs.map((l) => l.message)).toContain("worker.stopped");

  const tasks = await fs.db.collection("mirrorQueue").get();
  expect(tasks.docs.filter((d) => d.get("status") === "processing")).toEqual([]);
  // Every done task has its mirror doc; every other task is still pending, for the next worker.
  for (const d of tasks.docs) {
    const mirrored = (await fs.db.doc(`publicGenerations/${d.get("historyId")}`).get()).exists;
    expect({ id: d.id, status: d.get("status"), mirrored }).toEqual({ id: d.id, status: mirrored ? "done" : "pending", mirrored });
  }
  expect(tasks.size).toBe(ids.length);
});

it("logs a startup line with its configuration and heartbeats with counts and memory", async () => {
  const w = worker();
  const startMs = await w.started;
  await eventually(
    async () => w.logs.filter((l) => l.message === "worker.heartbeat").length,
    (n) => n >= 1,
    Number(FAST.WORKER_HEARTBEAT_MS) + Pace.START_SLACK * startMs,
    "a heartbeat",
  );
  const start = w.logs.find((l) => l.message === "worker.started")!;
  expect(start).toMatchObject({ severity: "INFO", worker: "mirrorQueue", batchLimit: 12, poolSize: 4, pollIntervalMs: 100 });
  const beat = w.logs.find((l) => l.message === "worker.heartbeat")!;
  expect(beat).toEqual(expect.objectContaining({ processed: 0, failed: 0, queueDepth: 0 }));
  expect(typeof beat.heapUsedMb).toBe("number");
  expect(typeof beat.ratePerSec).toBe("number");
});

it("refuses invalid configuration before it starts, naming the setting", async () => {
  const w = worker({ MIRROR_POOL_SIZE: "lots" });
  expect((await w.exited).code).toBe(2);
  expect(w.text.join("\n")).toContain("MIRROR_POOL_SIZE must be a number");
});
