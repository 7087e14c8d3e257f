import { Timestamp, type DocumentSnapshot } from "firebase-admin/firestore";
import { ID_ALPHABET } from "../../src/core/mirror/dueTasks";
import { MirrorQueueWorker } from "../../src/core/mirror/queueWorker";
import { processTaskBatch } from "../../src/core/mirror/taskBatch";
import { counted, installOpCounter } from "../../bench/opCounter";
import { testDeps } from "../harness/deps";
import { createTestFirestore, eventually, type TestFirestore } from "../harness/firestore";
import { injectCommitFaults } from "../harness/commitFaults";
import { enqueue, enqueueRaw, putHistoryItem, putUser } from "../harness/mirrorData";

/**
 * Two workers that read the same pending tasks (their cursors met) and apply them at once, each
 * claiming in its commit: every task's effect lands once. The mirror writes are counted at the SDK
 * (bench/opCounter.ts): a task applied twice would write its mirror doc twice.
 */
installOpCounter();
let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("race");
});
beforeEach(() => fs.clear());
afterAll(() => fs.close());

async function seed(n: number): Promise<DocumentSnapshot[]> {
  for (let u = 0; u < 3; u++) await putUser(fs.db, `u${u}`);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    await putHistoryItem(fs.db, `u${i % 3}`, `h${i}`);
    ids.push(await enqueue(fs.db, { op: "upsert", uid: `u${i % 3}`, historyId: `h${i}` }));
  }
  return Promise.all(ids.map((id) => fs.db.doc(`mirrorQueue/${id}`).get()));
}

it("two workers whose batches overlap: each task is applied once; the overlap goes to one, the rest of the loser's batch is applied in a second round", async () => {
  const snaps = await seed(18);
  const a = snaps.slice(0, 12);
  const b = snaps.slice(6, 18); // 6 tasks in common with a
  const { ops, result } = await counted(() =>
    Promise.all([processTaskBatch(testDeps(fs.db), a, { workerId: "A" }), processTaskBatch(testDeps(fs.db), b, { workerId: "B" })]),
  );
  const done = result.flat().filter((r) => r.status === "done");
  expect(done.map((r) => r.taskId).sort()).toEqual(snaps.map((s) => s.id).sort());
  // The common tasks went to one worker; the other reports them lost, never done.
  const lost = result.flat().filter((r) => r.status !== "done");
  for (const r of lost) expect(r).toMatchObject({ lostRace: true });
  expect(lost.map((r) => r.taskId).sort()).toEqual(
    snaps
      .slice(6, 12)
      .map((s) => s.id)
      .sort(),
  );
  // One mirror write per task: no effect landed twice.
  expect(ops.writesByCollection.publicGenerations).toBe(18);
  expect(ops.writesByCollection.mirrorQueue).toBe(18);
  const tasks = await fs.db.collection("mirrorQueue").get();
  for (const t of tasks.docs) expect(t.data()).toMatchObject({ status: "done", attempts: 1, outcome: "published" });
  const mirrors = await fs.db.collection("publicGenerations").get();
  expect(mirrors.size).toBe(18);
  const taskOf = new Map(tasks.docs.map((t) => [t.get("historyId"), t.id]));
  for (const m of mirrors.docs) expect(m.get("mirrorTaskId")).toBe(taskOf.get(m.id));
});

it("two workers with the very same batch: one applies it, the other applies nothing", async () => {
  const snaps = await seed(12);
  const { ops, result } = await counted(() =>
    Promise.all([processTaskBatch(testDeps(fs.db), snaps, { workerId: "A" }), processTaskBatch(testDeps(fs.db), snaps, { workerId: "B" })]),
  );
  const doneBy = result.map((r) => r.filter((x) => x.status === "done").length).sort();
  expect(doneBy).toEqual([0, 12]);
  expect(ops.writesByCollection.publicGenerations).toBe(12);
});

it("one batch transaction applies the source-decides rules per task: a removal and an unpublish leave owner tombstones, another user's mirror doc fails its task alone, the rest publish", async () => {
  for (const u of ["u0", "u1", "mallory"]) await putUser(fs.db, u);
  await putHistoryItem(fs.db, "u0", "pub");
  await putHistoryItem(fs.db, "u0", "gone");
  await putHistoryItem(fs.db, "u1", "priv");
  await putHistoryItem(fs.db, "u1", "theirs");
  // Published first, each alone, so the batch below finds mirror docs to remove.
  for (const [uid, historyId] of [
    ["u0", "gone"],
    ["u1", "priv"],
    ["u1", "theirs"],
  ]) {
    const id = await enqueue(fs.db, { op: "upsert", uid, historyId });
    await processTaskBatch(testDeps(fs.db), [await fs.db.doc(`mirrorQueue/${id}`).get()]);
  }
  await fs.db.doc("generationHistory/u0/items/gone").delete();
  await fs.db.doc("generationHistory/u1/items/priv").update({ isPublic: false });
  const ids = [
    await enqueue(fs.db, { op: "upsert", uid: "u0", historyId: "pub" }),
    await enqueue(fs.db, { op: "remove", uid: "u0", historyId: "gone" }),
    await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "priv" }), // the source says private: unpublished
    await enqueue(fs.db, { op: "upsert", uid: "mallory", historyId: "theirs" }), // u1's mirror doc
  ];
  const snaps = await Promise.all(ids.map((id) => fs.db.doc(`mirrorQueue/${id}`).get()));
  const result = await processTaskBatch(testDeps(fs.db), snaps);
  expect(result.map((r) => (r.status === "done" ? r.outcome : r.status))).toEqual(["published", "removed", "unpublished", "dead-letter"]);
  for (const id of ids.slice(0, 3)) expect((await fs.db.doc(`mirrorQueue/${id}`).get()).get("claimedAt")).toBeDefined(); // claimed in the commit
  expect((await fs.db.doc("publicGenerations/pub").get()).exists).toBe(true);
  expect((await fs.db.doc("publicGenerations/gone").get()).exists).toBe(false);
  expect((await fs.db.doc("publicGenerations/priv").get()).exists).toBe(false);
  expect((await fs.db.doc("publicGenerations/theirs").get()).get("uid")).toBe("u1");
  expect((await fs.db.doc("publicGenerationOwners/gone").get()).get("uid")).toBe("u0");
  expect((await fs.db.doc("publicGenerationOwners/priv").get()).get("uid")).toBe("u1");
  expect((await fs.db.doc("publicGenerationOwners/theirs").get()).exists).toBe(false);
});

it("a worker whose batch was taken by another drops the page it read ahead (the other worker's next page) and goes on from its new cursor point", async () => {
  // Ids chosen so that the cursor points are known: the worker starts at "VVVV…" (before every id),
  // so its first batch is a000-a011 and the page it reads ahead a012-a023; it scatters to "cccc…",
  // whose next page is m000-m011.
  const ids = [
    ...Array.from({ length: 24 }, (_, i) => `a${String(i).padStart(3, "0")}`),
    ...Array.from({ length: 12 }, (_, i) => `m${String(i).padStart(3, "0")}`),
  ];
  await putUser(fs.db, "u0");
  for (const id of ids) {
    await putHistoryItem(fs.db, "u0", `h-${id}`);
    await enqueueRaw(fs.db, { op: "upsert", uid: "u0", historyId: `h-${id}`, status: "pending", createdAt: Timestamp.now() }, id);
  }
  const pointAt = (c: string) => (ID_ALPHABET.indexOf(c) + 0.5) / ID_ALPHABET.length;
  let point = pointAt("V");
  const random = jest.spyOn(Math, "random").mockImplementation(() => point);
  const applied: string[][] = [];
  let taken = false;
  // Before the worker's first commit, another worker completes its batch; the scatter after it lands at "cccc…".
  const undo = injectCommitFaults(fs.db, async (written) => {
    if (!written.some((p) => p.startsWith("publicGenerations/"))) return undefined;
    applied.push(written.filter((p) => p.startsWith("mirrorQueue/")).map((p) => p.split("/")[1]));
    if (!taken) {
      taken = true;
      point = pointAt("c");
      await Promise.all(applied[0].map((id) => fs.db.doc(`mirrorQueue/${id}`).update({ status: "done" })));
    }
    return undefined;
  });
  const worker = new MirrorQueueWorker(testDeps(fs.db, { config: { MIRROR_BATCH_LIMIT: 12, MIRROR_POLL_INTERVAL_MS: 100 } }));
  void worker.start();
  try {
    await eventually(
      async () => applied.length,
      (n) => n >= 2,
      60_000,
      "a second batch",
    );
  } finally {
    await worker.stop();
    undo();
    random.mockRestore();
  }
  expect(applied[0]).toEqual(ids.slice(0, 12));
  expect(applied[1]).toEqual(ids.slice(24, 36));
});
