import { Timestamp, type Firestore, type QuerySnapshot } from "firebase-admin/firestore";
import { MirrorQueueWorker } from "../../src/core/mirror/queueWorker";
import { processTaskBatch } from "../../src/core/mirror/taskBatch";
import { memoryLogger, testDeps } from "../harness/deps";
import { createTestFirestore, eventually, eventuallyWhileProgressing, type TestFirestore } from "../harness/firestore";
import { injectCommitFaults, unavailable } from "../harness/commitFaults";
import { enqueue, mirrorDoc, putHistoryItem, putUser, taskDoc } from "../harness/mirrorData";
import { aroundQueryGets, hasWhere, type QueryChain } from "../harness/queryFaults";

/**
 * The standalone worker reads its next page while it applies a full batch (queueWorker.ts). Here
 * that page goes wrong: its read fails, or it is read while the batch it follows still holds the
 * tasks the recovery queries return first.
 */
let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("readahead");
});
beforeEach(() => fs.clear());
afterEach(() => jest.restoreAllMocks());
afterAll(() => fs.close());

const isPendingPage = (chain: QueryChain) => hasWhere(chain, "status", "==", "pending") && chain.some(([m]) => m === "startAfter");

async function upserts(n: number, fields: (i: number) => Record<string, unknown> = () => ({})): Promise<string[]> {
  await putUser(fs.db, "u1");
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    await putHistoryItem(fs.db, "u1", `h${i}`);
    ids.push(await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: `h${i}`, ...fields(i) }));
  }
  return ids;
}

const statuses = async (ids: string[]) => Promise.all(ids.map(async (id) => (await taskDoc(fs.db, id)).status));

type Logged = ReturnType<typeof memoryLogger>;

/** Runs a standalone worker on `db` while `body` runs; returns its log. */
async function withWorker(
  db: Firestore,
  config: NonNullable<Parameters<typeof testDeps>[1]>["config"],
  body: (worker: MirrorQueueWorker, logger: Logged) => Promise<void>,
): Promise<Logged> {
  const logger = memoryLogger();
  const worker = new MirrorQueueWorker(testDeps(db, { logger, config }));
  void worker.start();
  try {
    await body(worker, logger);
  } finally {
    await worker.stop();
  }
  return logger;
}

it("a page whose read ahead failed fails one poll; the polls after it read anew and finish the queue", async () => {
  const ids = await upserts(6);
  let pendingPages = 0;
  // The second pending page is the one read ahead while the first batch is applied.
  const db = aroundQueryGets(fs.db, (chain, run) =>
    isPendingPage(chain) && ++pendingPages === 2 ? Promise.reject(unavailable("injected: the page read ahead")) : run(),
  );
  const logger = await withWorker(db, { MIRROR_BATCH_LIMIT: 3, MIRROR_POLL_INTERVAL_MS: 50, MIRROR_MAX_BACKOFF_MS: 200 }, async () => {
    // A drain: it fails only when no task moves for 30 s, however long a busy machine takes in all.
    await eventuallyWhileProgressing(
      () => statuses(ids),
      (s) => s.every((x) => x === "done"),
      30_000,
      "every task done",
    );
  });
  const failedRounds = logger.entries.filter((e) => e.message === "worker.round_failed");
  expect(failedRounds).toHaveLength(1);
  expect(failedRounds[0]).toMatchObject({ error: { message: expect.stringContaining("injected: the page read ahead") } });
});

describe("a backlog the recovery queries find (they return the oldest first, whatever the batch before took)", () => {
  const past = () => Timestamp.fromMillis(Date.now() - 60_000);
  it.each([
    [
      "retries due",
      { status: "failed", attempts: 1, lastError: "boom", nextAttemptAt: past() },
      ["status", "==", "failed"],
      "nextAttemptAt",
    ],
    [
      "leases expired",
      { status: "processing", attempts: 1, leaseOwner: "gone", leaseExpiresAt: past() },
      ["status", "==", "processing"],
      "leaseExpiresAt",
    ],
  ] as const)("%s: the page read during a full batch holds the next tasks, not that batch's", async (_kind, fields, [f, op, v], due) => {
    const ids = await upserts(24, () => fields);
    // The batch's claims land only once the page read ahead has been answered, as they do at
    // production latency, where the claims and the read go out together.
    let recoveryReads = 0;
    let answered!: () => void;
    const pageRead = new Promise<void>((r) => (answered = r));
    const db = aroundQueryGets(fs.db, async (chain, run) => {
      const page: QuerySnapshot = await run();
      if (hasWhere(chain, f, op, v) && hasWhere(chain, due, "<=") && ++recoveryReads === 2) answered();
      return page;
    });
    const undo = injectCommitFaults(fs.db, (paths) => (paths.some((p) => p.startsWith("mirrorQueue/")) ? pageRead : undefined));
    try {
      // A 60 s interval: a poll that found nothing while tasks waited would keep them waiting that long.
      const slow = { MIRROR_BATCH_LIMIT: 12, MIRROR_POLL_INTERVAL_MS: 60_000, MIRROR_MAX_BACKOFF_MS: 60_000, WORKER_HEARTBEAT_MS: 200 };
      await withWorker(db, slow, async (worker, logger) => {
        await eventually(
          async () => logger.entries.filter((e) => e.message === "worker.heartbeat").at(-1),
          (beat) => beat?.running === false && Date.parse(String(beat.nextRoundAt)) - Date.parse(String(beat.time)) >= 30_000,
          60_000,
          "a heartbeat of the worker waiting for its interval",
        );
        expect(worker.snapshotStats().processed).toBe(24);
      });
    } finally {
      undo();
    }
    expect(await statuses(ids)).toEqual(ids.map(() => "done"));
  });
});

it("a page read ahead that went stale before its turn: a task deleted, rewritten, leased or completed by another meanwhile is applied only as it is now", async () => {
  const ids = await upserts(8);
  await putHistoryItem(fs.db, "u1", "other");
  // The worker's cursor starts before every auto-id, so its first page is 4 tasks and the page it reads ahead the other 4, in one query.
  const realRandom = Math.random;
  const random = jest.spyOn(Math, "random").mockReturnValue(0);
  let pendingPages = 0;
  const changed: Record<string, string> = {};
  const db = aroundQueryGets(fs.db, async (chain, run) => {
    const page = await run();
    if (!isPendingPage(chain) || ++pendingPages !== 2) return page;
    // The page read ahead, answered; before the worker's turn with it, other writers change it.
    const [deleted, rewritten, leased, completed] = page.docs;
    await deleted.ref.delete();
    await rewritten.ref.set({ op: "upsert", uid: "u1", historyId: "other", status: "pending", createdAt: Timestamp.now() });
    const lease = {
      status: "processing",
      attempts: 1,
      leaseOwner: "other-worker",
      leaseExpiresAt: Timestamp.fromMillis(Date.now() + 600_000),
    };
    await leased.ref.update(lease);
    expect(await processTaskBatch(testDeps(fs.db), [await completed.ref.get()], { workerId: "other-worker" })).toMatchObject([
      { status: "done" },
    ]);
    Object.assign(changed, { deleted: deleted.id, rewritten: rewritten.id, leased: leased.id, completed: completed.id });
    Object.assign(changed, { rewrittenItem: String(rewritten.get("historyId")), leasedItem: String(leased.get("historyId")) });
    return page;
  });
  const settled = (s: (string | undefined)[]) => ids.every((id, i) => s[i] === "done" || [changed.deleted, changed.leased].includes(id));
  await withWorker(db, { MIRROR_BATCH_LIMIT: 4, MIRROR_POLL_INTERVAL_MS: 50, MIRROR_MAX_BACKOFF_MS: 200 }, async () => {
    // The finder keeps the function it was given: random from here on (its scatter after a lost race).
    random.mockImplementation(realRandom);
    await eventuallyWhileProgressing(
      () => Promise.all(ids.map(async (id) => (await fs.db.doc(`mirrorQueue/${id}`).get()).get("status"))),
      settled,
      30_000,
      "every task done but the deleted and the leased one",
    );
  });
  expect(Object.keys(changed)).toHaveLength(6);
  expect((await fs.db.doc(`mirrorQueue/${changed.deleted}`).get()).exists).toBe(false);
  expect(await taskDoc(fs.db, changed.leased)).toMatchObject({ status: "processing", leaseOwner: "other-worker", attempts: 1 });
  expect(await taskDoc(fs.db, changed.rewritten)).toMatchObject({ status: "done", historyId: "other", attempts: 1 });
  expect(await taskDoc(fs.db, changed.completed)).toMatchObject({ status: "done", attempts: 1 });
  // The rewritten task's old item was never published from the stale page; the leased task's item waits for its holder.
  expect(await mirrorDoc(fs.db, changed.rewrittenItem)).toBeUndefined();
  expect(await mirrorDoc(fs.db, changed.leasedItem)).toBeUndefined();
  expect(await mirrorDoc(fs.db, "other")).toMatchObject({ mirrorTaskId: changed.rewritten });
});
