import { FieldValue, Timestamp } from "firebase-admin/firestore";
import { getSystemHealth } from "../../src/core/health/systemHealth";
import { processSnapshots, type SnapshotReport } from "../../src/core/snapshots/processSnapshots";
import { claimProject } from "../../src/core/snapshots/projectMarks";
import { loadProject } from "../../src/core/snapshots/loadProject";
import { appendOp, elementsOf, padToLimit, projectAt } from "../harness/canvas";
import { ManualClock, memoryLogger, testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";

/**
 * Every project a run reads leaves the candidate windows, whatever happened: project docs that lie,
 * fail, or cannot take one more byte (Admin SDK writes, or docs corrupted by hand: the rules keep
 * clients from writing most of these) never make a run throw and never hold a query's window.
 * With SNAPSHOT_BATCH_SIZE 1 a query reads 4 projects, so 4 hostile projects would fill a window.
 */
let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("snapwindows");
});
beforeEach(() => fs.clear());
afterAll(() => fs.close());

const H = 3600_000;
const MIN = 60_000;
const created = (reports: SnapshotReport[]) => reports.flatMap((r) => r.created.map((c) => c.projectId));
const project = async (id: string) => (await fs.db.doc(`canvasProjects/${id}`).get()).data()!;
const HOSTILE = ["h0", "h1", "h2", "h3"];

async function runs(deps: ReturnType<typeof testDeps>, clock: ManualClock, n: number, step = MIN): Promise<SnapshotReport[]> {
  const reports: SnapshotReport[] = [];
  for (let i = 0; i < n; i++) {
    reports.push(await processSnapshots(deps));
    clock.advance(step);
  }
  return reports;
}

/**
 * The 4 hostile projects get their snapshot first (so their place in the queue is older), then
 * `victim` gets one, two more ops (fewer than SNAPSHOT_MAX_OPS), and a run sees it not yet due.
 * `corrupt` then changes the hostile projects; 25 h later the victim is due by age, and only the
 * due-by-age query (B) can find it, behind them.
 */
async function dueByAgeBehindHostile(corrupt: (id: string) => Promise<unknown>) {
  // Starts now: the harness's ops carry the real time, and must be in the past for the scan.
  const clock = new ManualClock();
  const config = { SNAPSHOT_BATCH_SIZE: 1, SNAPSHOT_MAX_OPS: 10 };
  const deps = testDeps(fs.db, { clock, config });
  for (const id of HOSTILE) await projectAt(fs.db, id, clock.now() - MIN, [{ x: 1 }]);
  expect(created(await runs(testDeps(fs.db, { clock, config: { ...config, SNAPSHOT_BATCH_SIZE: 50 } }), clock, 1)).sort()).toEqual(HOSTILE);
  await projectAt(fs.db, "victim", clock.now() - MIN, [{ x: 1 }]);
  expect(created(await runs(deps, clock, 1))).toEqual(["victim"]);
  for (let i = 0; i < 2; i++) await appendOp(fs.db, "victim", { type: "update", elementId: "e0", data: { n: i } });
  expect(created(await runs(deps, clock, 1))).toEqual([]);
  for (const id of HOSTILE) await corrupt(id);
  clock.advance(25 * H);
  return { clock, deps };
}

it("a counter of Infinity is a lie like any other: repaired, and the project due by age behind four of them gets its snapshot", async () => {
  const { clock, deps } = await dueByAgeBehindHostile((id) => fs.db.doc(`canvasProjects/${id}`).update({ opsSinceSnapshot: Infinity }));
  const reports = await runs(deps, clock, 2);
  expect(created(reports)).toEqual(["victim"]);
  expect(reports.flatMap((r) => r.repaired).sort((a, b) => a.projectId.localeCompare(b.projectId))).toEqual(
    HOSTILE.map((projectId) => ({ projectId, opsSinceSnapshot: { from: null, to: 0 } })),
  );
  for (const id of HOSTILE) expect((await project(id)).opsSinceSnapshot).toBe(0);
});

it("project docs at Firestore's size limit, with a new op and due by age, are snapshotted in their turn (a snapshot keeps the doc's size), then the project behind them", async () => {
  const { clock, deps } = await dueByAgeBehindHostile(async (id) => {
    await appendOp(fs.db, id, { type: "update", elementId: "e0", data: { x: 2 } });
    await padToLimit(fs.db, id, 100);
  });
  const reports = await runs(deps, clock, 5, H);
  expect(reports.map((r) => created([r]))).toEqual([["h0"], ["h1"], ["h2"], ["h3"], ["victim"]]);
  expect(reports.flatMap((r) => r.failed)).toEqual([]);
});

it("a project doc that takes no new field (its counter removed, then filled to 1 MiB) makes no run throw; the ten new projects behind it get their snapshot", async () => {
  const clock = new ManualClock(Date.now() - 10 * MIN);
  const deps = testDeps(fs.db, { clock });
  await projectAt(fs.db, "hostile", clock.now() - MIN, [{ x: 1 }]);
  expect(created(await runs(deps, clock, 1))).toEqual(["hostile"]);
  // One op (not due), the counter removed, updatedAt moved so the scan reads it again, the doc filled.
  await appendOp(fs.db, "hostile", { type: "update", elementId: "e0", data: { x: 2 } });
  await fs.db
    .doc("canvasProjects/hostile")
    .update({ opsSinceSnapshot: FieldValue.delete(), updatedAt: Timestamp.fromMillis(clock.now() - 1) });
  await padToLimit(fs.db, "hostile", 10);
  const victims = Array.from({ length: 10 }, (_, i) => `victim${i}`);
  for (const id of victims) await projectAt(fs.db, id, clock.now(), [{ id }]);
  clock.advance(MIN);

  const reports = await runs(deps, clock, 2, H);
  expect(created(reports).sort()).toEqual(victims);
});

it("a new project whose doc cannot take the claim's mark is recorded as failing in the worker's own records, reported by status, and retried with backoff", async () => {
  const clock = new ManualClock(Date.now() - 10 * MIN);
  const deps = testDeps(fs.db, { clock });
  await projectAt(fs.db, "full", clock.now() - 2 * MIN, [{ x: 1 }]);
  await padToLimit(fs.db, "full", 10);
  await projectAt(fs.db, "fine", clock.now() - MIN, [{ x: 1 }]);

  const [first] = await runs(deps, clock, 1);
  expect(created([first])).toEqual(["fine"]);
  expect(first.failed).toEqual([
    expect.objectContaining({
      projectId: "full",
      error: expect.stringContaining("could not claim the project"),
      attempts: 1,
      retryAt: expect.any(String),
    }),
  ]);
  const health = await getSystemHealth(fs.db, deps.config, clock.now());
  expect(health.snapshots.failing.recent).toEqual([expect.objectContaining({ projectId: "full", attempts: 1 })]);
  // Not again within its backoff (1 h); after it, once more, with the next step (2 h).
  expect((await runs(deps, clock, 1, H)).flatMap((r) => r.failed)).toEqual([]);
  const [retry] = await runs(deps, clock, 1);
  expect(retry.failed).toEqual([
    expect.objectContaining({ projectId: "full", attempts: 2, retryAt: new Date(clock.now() - MIN + 2 * H).toISOString() }),
  ]);
});

it("failing projects whose opIndex is then set back to -1 leave the retry query; the project whose first snapshot a dead run claimed is retried after its backoff", async () => {
  const clock = new ManualClock(Date.now() - 10 * H);
  const deps = testDeps(fs.db, { clock, config: { SNAPSHOT_BATCH_SIZE: 1 } });
  let deep: unknown = "leaf";
  for (let i = 0; i < 19; i++) deep = { n: deep };
  for (const id of HOSTILE) await projectAt(fs.db, id, clock.now() - MIN, [{ deep }]);
  expect((await runs(deps, clock, 4)).flatMap((r) => r.failed.map((f) => f.projectId)).sort()).toEqual(HOSTILE);
  for (const id of HOSTILE) await fs.db.doc(`canvasProjects/${id}`).update({ opIndex: -1, opsSinceSnapshot: 0 });
  // The victim: its first snapshot claimed by a run that then died; the scan passes it while it waits.
  await projectAt(fs.db, "victim", clock.now() - MIN, [{ x: 1 }]);
  expect(await claimProject(fs.db, "victim", clock.now(), { maxOps: 100, maxHours: 24 }, false)).toMatchObject({ claimed: true });
  await runs(deps, clock, 1);
  clock.advance(2 * H);

  const reports = await runs(deps, clock, 2, H);
  expect(created(reports)).toEqual(["victim"]);
  expect((await getSystemHealth(fs.db, deps.config, clock.now())).snapshots.failing.count).toBe(0);
});

/** Project docs no client can write under the rules, but a server bug or a hand edit can: fields of any type, worker fields included. */
const POISON: Record<string, Record<string, unknown>> = {
  opIndexNaN: { opIndex: NaN, opsSinceSnapshot: 500 },
  opIndexInfinity: { opIndex: Infinity, opsSinceSnapshot: 500 },
  opIndexNegative: { opIndex: -7, opsSinceSnapshot: 500 },
  opIndexHuge: { opIndex: 2 ** 60, opsSinceSnapshot: 500 },
  opIndexFloat: { opIndex: 0.5, opsSinceSnapshot: 500 },
  opIndexString: { opIndex: "0", opsSinceSnapshot: 500 },
  opIndexMap: { opIndex: { n: 0 }, opsSinceSnapshot: 500 },
  opIndexNull: { opIndex: null, opsSinceSnapshot: 500 },
  opIndexPastItsOps: { opIndex: 1_000_000, opsSinceSnapshot: 1_000_000 },
  counterString: { opsSinceSnapshot: "500" },
  counterNaN: { opsSinceSnapshot: NaN },
  counterMinusInfinity: { opsSinceSnapshot: -Infinity },
  counterNegative: { opsSinceSnapshot: -5 },
  counterHuge: { opsSinceSnapshot: 1e308 },
  updatedAtString: { updatedAt: "yesterday" },
  updatedAtNull: { updatedAt: null },
  updatedAtFarFuture: { updatedAt: Timestamp.fromMillis(Date.UTC(9999, 0, 1)) },
  updatedAtEpoch: { updatedAt: Timestamp.fromMillis(0) },
  checkAfterString: { snapshotCheckAfter: "soon" },
  checkAfterFarFuture: { snapshotCheckAfter: Timestamp.fromMillis(Date.UTC(9999, 0, 1)) },
  checkAfterEpoch: { snapshotCheckAfter: Timestamp.fromMillis(0), opsSinceSnapshot: 500 },
  snapshotFieldsOfOtherTypes: { lastSnapshotOpIndex: "5", latestSnapshotId: 7, lastSnapshotAt: "x" },
  snapshotAhead: {
    lastSnapshotOpIndex: 99,
    latestSnapshotId: "op-000000000100",
    lastSnapshotAt: Timestamp.fromMillis(0),
    snapshotCheckAfter: Timestamp.fromMillis(0),
  },
  latestSnapshotIdNotAnId: { latestSnapshotId: "a/b" },
};
/** Failure records of other shapes: edited by hand, or for a project that is gone. */
const POISON_FAILURES: Record<string, Record<string, unknown>> = {
  failureOfGarbage: { attempts: -3, retryAt: "never", permanent: "yes", opIndex: NaN },
  failureAheadOfPlace: { attempts: 2, opIndex: 0, retryAt: Timestamp.fromMillis(Date.UTC(9999, 0, 1)), failedAt: Timestamp.fromMillis(0) },
  failureOfNoProject: { attempts: 1, opIndex: 0, retryAt: Timestamp.fromMillis(0), failedAt: Timestamp.fromMillis(0) },
};

it("corrupted project docs and failure records: no run throws, each well-formed project gets its snapshot in its turn, and loadProject still equals the elements", async () => {
  const clock = new ManualClock(Date.now() + MIN);
  const deps = testDeps(fs.db, { clock, config: { SNAPSHOT_BATCH_SIZE: 3 } });
  let t = clock.now() - 30 * MIN;
  for (const [id, over] of Object.entries(POISON)) await projectAt(fs.db, id, t++, [{ x: 1 }], over);
  for (const [id, record] of Object.entries(POISON_FAILURES)) {
    if (id !== "failureOfNoProject") await projectAt(fs.db, id, t++, [{ x: 1 }], { snapshotCheckAfter: Timestamp.fromMillis(0) });
    await fs.db.doc(`canvasSnapshotFailures/${id}`).set(record);
  }
  const good = Array.from({ length: 9 }, (_, i) => `good${i}`);
  for (const id of good) await projectAt(fs.db, id, t++, [{ id }]);

  const reports = await runs(deps, clock, 8);
  for (const id of good) expect(created(reports)).toContain(id);
  expect(reports.flatMap((r) => r.failed).filter((f) => good.includes(f.projectId))).toEqual([]);
  expect((await fs.db.doc("canvasSnapshotFailures/failureOfNoProject").get()).exists).toBe(false);
  for (const id of [...Object.keys(POISON), "failureOfGarbage", "failureAheadOfPlace"]) {
    const loaded = await loadProject(fs.db, id, { logger: memoryLogger() });
    expect({ id, elements: loaded.elements }).toEqual({ id, elements: await elementsOf(fs.db, id) });
  }
});
