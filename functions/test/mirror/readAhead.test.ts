import type { Firestore } from "firebase-admin/firestore";
import { MirrorQueueWorker } from "../../src/core/mirror/queueWorker";
import { memoryLogger, testDeps } from "../harness/deps";
import { createTestFirestore, eventually, type TestFirestore } from "../harness/firestore";
import { unavailable } from "../harness/commitFaults";
import { enqueue, putHistoryItem, putUser, taskDoc } from "../harness/mirrorData";
import { aroundQueryGets, hasWhere, type QueryChain } from "../harness/queryFaults";

/**
 * The standalone worker reads its next page while it applies a full batch (queueWorker.ts). Here
 * that page goes wrong: its read fails.
 */
let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("readahead");
});
beforeEach(() => fs.clear());
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
    await eventually(
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
