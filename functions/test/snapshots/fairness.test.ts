import { FieldValue, Timestamp } from "firebase-admin/firestore";
import { formatHealth, formatSnapshots } from "../../src/cli/format";
import { getSystemHealth } from "../../src/core/health/systemHealth";
import { processSnapshots, type SnapshotReport } from "../../src/core/snapshots/processSnapshots";
import { claimProject } from "../../src/core/snapshots/projectMarks";
import { appendOp, projectAt as writeProjectAt } from "../harness/canvas";
import { ManualClock, testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";

/** One bad project never starves the others: failing projects are set aside with backoff, lying counters are repaired, the queue is fair. */
let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("snapfair");
});
beforeEach(() => fs.clear());
afterAll(() => fs.close());

const H = 3600_000;
const MIN = 60_000;
const ids = (r: SnapshotReport, key: "created" | "failed" | "repaired") => r[key].map((c) => c.projectId).sort();
const project = async (id: string) => (await fs.db.doc(`canvasProjects/${id}`).get()).data()!;
const failureOf = async (id: string) => (await fs.db.doc(`canvasSnapshotFailures/${id}`).get()).data();

const projectAt = (id: string, updatedAtMs: number, elements: Record<string, unknown>[], over: Record<string, unknown> = {}) =>
  writeProjectAt(fs.db, id, updatedAtMs, elements, over);

/** An element that fits its own doc but not a snapshot. */
const BAD_ELEMENTS: [string, () => Record<string, unknown>, string][] = [
  [
    "nested 19 deep: 21 once a snapshot wraps it",
    () => {
      let deep: unknown = "leaf";
      for (let i = 0; i < 19; i++) deep = { n: deep };
      return { deep };
    },
    "inside a snapshot it would be 21",
  ],
  ["larger than a snapshot part", () => ({ blob: "x".repeat(950_000) }), "more than a snapshot part holds"],
];

describe.each(BAD_ELEMENTS)("a project with an element %s", (_kind, badElement, reason) => {
  it("is recorded as failing with the reason, in the report and in status, retried with backoff, and the fresh project behind 500 idle ones still gets its snapshot", async () => {
    const clock = new ManualClock();
    const deps = testDeps(fs.db, { clock });
    const base = clock.now() - 10 * MIN;
    await projectAt("broken", base, [{ ok: 1 }, badElement()]);
    const writer = fs.db.bulkWriter();
    for (let i = 0; i < 500; i++)
      writer.set(fs.db.doc(`canvasProjects/idle${String(i).padStart(3, "0")}`), {
        ownerUid: "o",
        opIndex: -1,
        opsSinceSnapshot: 0,
        updatedAt: Timestamp.fromMillis(base + 1 + i),
      });
    await writer.close();
    await projectAt("fresh", base + 1000, [{ x: 1 }]);

    const first = await processSnapshots(deps);
    expect(ids(first, "created")).toEqual(["fresh"]);
    expect(first.failed).toEqual([
      {
        projectId: "broken",
        error: expect.stringContaining(reason),
        permanent: true,
        attempts: 1,
        retryAt: new Date(clock.now() + H).toISOString(),
      },
    ]);
    expect(await failureOf("broken")).toMatchObject({ error: expect.stringContaining(reason), permanent: true, attempts: 1, opIndex: 1 });
    expect((await project("broken")).latestSnapshotId).toBeUndefined();
    expect(formatSnapshots(first)).toMatch(/broken: FAILED \(permanent\), attempt 1, retry \S+: element e1/);

    const health = await getSystemHealth(fs.db, deps.config, clock.now());
    expect(health.snapshots.failing).toEqual({
      count: 1,
      recent: [expect.objectContaining({ projectId: "broken", error: expect.stringContaining(reason), permanent: true, attempts: 1 })],
    });
    expect(formatHealth(health)).toContain("1 failing");
    expect(formatHealth(health)).toMatch(/broken\s+1\s+yes\s+\S+\s+element e1/);

    // Within its backoff it is not tried again; after it, it is, and the next backoff doubles.
    clock.advance(30 * MIN);
    expect((await processSnapshots(deps)).failed).toEqual([]);
    clock.advance(31 * MIN);
    const retried = await processSnapshots(deps);
    expect(retried.failed).toEqual([
      expect.objectContaining({ projectId: "broken", attempts: 2, retryAt: new Date(clock.now() + 2 * H).toISOString() }),
    ]);

    // Once the owner removes the element, the next run snapshots it, backoff or not.
    await appendOp(fs.db, "broken", { type: "delete", elementId: "e1" });
    clock.advance(MIN);
    expect(ids(await processSnapshots(deps), "created")).toEqual(["broken"]);
    expect(await failureOf("broken")).toBeUndefined();
    expect((await getSystemHealth(fs.db, deps.config, clock.now())).snapshots.failing.count).toBe(0);
  });
});

it("projects that fail on every run each take one place, then wait their backoff: a due project behind them is snapshotted within ceil(due / batch) runs", async () => {
  const clock = new ManualClock();
  const deps = testDeps(fs.db, { clock, config: { SNAPSHOT_BATCH_SIZE: 3 } });
  const base = clock.now() - 10 * MIN;
  for (let i = 0; i < 5; i++) await projectAt(`bad${i}`, base + i, [{ blob: "x".repeat(950_000) }], { opIndex: 99, opsSinceSnapshot: 100 });
  await projectAt("good", base + 10, [{ x: 1 }], { opIndex: 149, opsSinceSnapshot: 150 });

  const runs: SnapshotReport[] = [];
  for (let i = 0; i < 3; i++) {
    runs.push(await processSnapshots(deps));
    clock.advance(MIN);
  }
  expect(runs.flatMap((r) => r.created.map((c) => c.projectId))).toEqual(["good"]);
  expect(runs[0].created.length + runs[1].created.length).toBe(1);
  // Each bad project was tried once; none again within its backoff.
  expect(runs.flatMap((r) => r.failed.map((f) => f.projectId)).sort()).toEqual(["bad0", "bad1", "bad2", "bad3", "bad4"]);
  expect(runs[2].failed).toEqual([]);
  expect(runs[0].deferred).toBe(3);
  expect(runs[0].complete).toBe(false);
});

describe.each([
  ["by op count", 12, 2 * MIN],
  ["by age", 2, 25 * H],
])("counters that say due while opIndex has not moved", (_kind, legitOps, wait) => {
  it(`are repaired without taking a place; a project due ${_kind} gets its snapshot in the same or the next run, even if the owners set the counters again`, async () => {
    const clock = new ManualClock(Date.now() - 30 * H);
    const config = { SNAPSHOT_BATCH_SIZE: 3, SNAPSHOT_MAX_OPS: 10 };
    const deps = testDeps(fs.db, { clock, config });
    // 20 projects snapshotted first, then one more: the 20 wait longer in the queue.
    const liars = Array.from({ length: 20 }, (_, i) => `liar${String(i).padStart(2, "0")}`);
    for (const id of liars) await projectAt(id, clock.now() - MIN, [{ id }]);
    const setup = testDeps(fs.db, { clock, config: { ...config, SNAPSHOT_BATCH_SIZE: 50 } });
    expect(ids(await processSnapshots(setup), "created")).toEqual(liars);
    clock.advance(MIN);
    await projectAt("zz-due", clock.now() - MIN, [{ id: "zz-due" }]);
    expect((await processSnapshots(deps, { projectId: "zz-due" })).created).toHaveLength(1);

    // The owners of the 20 set their counters to "due" (the rules let them); zz-due gets real ops.
    const lie = async () => {
      const batch = fs.db.batch();
      for (const id of liars) batch.update(fs.db.doc(`canvasProjects/${id}`), { opsSinceSnapshot: 10 });
      await batch.commit();
    };
    await lie();
    for (let i = 0; i < legitOps; i++) await appendOp(fs.db, "zz-due", { type: "update", elementId: "e0", data: { n: i } });

    clock.advance(wait);
    const first = await processSnapshots(deps);
    const countersAfterFirst = await Promise.all(liars.map(async (id) => [id, (await project(id)).opsSinceSnapshot]));
    await lie();
    clock.advance(MIN);
    const second = await processSnapshots(deps);

    expect([...ids(first, "created"), ...ids(second, "created")]).toEqual(["zz-due"]);
    expect(first.repaired.length).toBeGreaterThan(0);
    for (const r of first.repaired) expect(r.opsSinceSnapshot).toEqual({ from: 10, to: 0 });
    const repaired = new Set(first.repaired.map((r) => r.projectId));
    expect(countersAfterFirst).toEqual(liars.map((id) => [id, repaired.has(id) ? 0 : 10]));
    expect(await project("zz-due")).toMatchObject({ lastSnapshotOpIndex: legitOps, opsSinceSnapshot: 0 });
  });
});

it("a project whose updatedAt lies in the future cannot hide the projects updated after it", async () => {
  const clock = new ManualClock();
  const deps = testDeps(fs.db, { clock });
  await projectAt("from-the-future", clock.now() + 1000 * 24 * H, [{ x: 1 }]);
  await projectAt("p1", clock.now() - MIN, [{ x: 1 }]);
  expect(ids(await processSnapshots(deps), "created")).toEqual(["p1"]);
  await projectAt("p2", clock.now(), [{ x: 2 }]);
  clock.advance(MIN);
  expect(ids(await processSnapshots(deps), "created")).toEqual(["p2"]);
});

it("a project whose opIndex is not an integer is recorded as failing without a read of its elements, and takes no place", async () => {
  const clock = new ManualClock();
  const deps = testDeps(fs.db, { clock, config: { SNAPSHOT_BATCH_SIZE: 1 } });
  await projectAt("garbled", clock.now() - 2 * MIN, [{ x: 1 }], { opIndex: "12", opsSinceSnapshot: 100 });
  await projectAt("fine", clock.now() - MIN, [{ x: 1 }]);
  const report = await processSnapshots(deps);
  expect(ids(report, "created")).toEqual(["fine"]);
  expect(report.failed).toEqual([
    expect.objectContaining({ projectId: "garbled", error: "opIndex must be an integer >= -1", permanent: true }),
  ]);
  expect(await failureOf("garbled")).toMatchObject({ opIndex: null, permanent: true });
});

it("a run that dies after claiming a project leaves it recorded as not finished; it waits its backoff behind the others, then gets its snapshot", async () => {
  const clock = new ManualClock();
  const deps = testDeps(fs.db, { clock });
  await projectAt("claimed", clock.now() - 2 * MIN, [{ x: 1 }]);
  await projectAt("other", clock.now() - MIN, [{ x: 1 }]);
  // A run that claims, then dies before its snapshot commits: the claim is what stays.
  expect(await claimProject(fs.db, "claimed", clock.now(), { maxOps: 100, maxHours: 24 }, false)).toMatchObject({
    claimed: true,
    attempts: 1,
  });
  const health = await getSystemHealth(fs.db, deps.config, clock.now());
  expect(health.snapshots.failing.recent).toEqual([
    expect.objectContaining({ projectId: "claimed", error: expect.stringContaining("did not finish") }),
  ]);

  clock.advance(MIN);
  const during = await processSnapshots(deps);
  expect(ids(during, "created")).toEqual(["other"]);
  clock.advance(H);
  expect(ids(await processSnapshots(deps), "created")).toEqual(["claimed"]);
  expect(await failureOf("claimed")).toBeUndefined();
});

it("owners cannot push their project ahead: every run stamps what it handled, so the queue moves on", async () => {
  const clock = new ManualClock();
  const deps = testDeps(fs.db, { clock, config: { SNAPSHOT_BATCH_SIZE: 2 } });
  for (let i = 0; i < 6; i++) await projectAt(`p${i}`, clock.now() - 10 * MIN + i, [{ x: i }]);
  const seen: string[] = [];
  for (let run = 0; run < 3; run++) {
    const report = await processSnapshots(deps);
    seen.push(...report.created.map((c) => c.projectId));
    // The owners of the projects just snapshotted append ops at once, and bump their counters to "due".
    for (const c of report.created) {
      await appendOp(fs.db, c.projectId, { type: "update", elementId: "e0", data: { run } });
      await fs.db.doc(`canvasProjects/${c.projectId}`).update({ opsSinceSnapshot: FieldValue.increment(500) });
    }
    clock.advance(MIN);
  }
  expect(seen.sort()).toEqual(["p0", "p1", "p2", "p3", "p4", "p5"]);
});

/** A clock that moves `stepMs` each time it is read: a slow machine, or a slow Firestore, compressed. */
class TickingClock extends ManualClock {
  constructor(private readonly stepMs: number) {
    super();
  }
  override now(): number {
    const t = super.now();
    this.advance(this.stepMs);
    return t;
  }
}

it("stops starting snapshots once its time budget is spent; the rest go first in the next runs", async () => {
  // 4 minutes a read: the 7-minute budget is spent after a project or two.
  const deps = testDeps(fs.db, { clock: new TickingClock(4 * MIN) });
  for (let i = 0; i < 5; i++) await projectAt(`p${i}`, Date.now() - 10 * MIN + i, [{ x: i }]);
  const first = await processSnapshots(deps);
  expect(first.created.length).toBeGreaterThan(0);
  expect(first.deferred).toBe(5 - first.created.length);
  expect(first.complete).toBe(false);
  const created = first.created.map((c) => c.projectId);
  for (let run = 0; run < 5 && created.length < 5; run++) created.push(...(await processSnapshots(deps)).created.map((c) => c.projectId));
  expect(created.sort()).toEqual(["p0", "p1", "p2", "p3", "p4"]);
});

it("a run whose budget is spent before its first snapshot still takes one project: the queue moves one place a run at worst", async () => {
  // 8 minutes a read: the budget is spent as soon as the run has found its candidates.
  const deps = testDeps(fs.db, { clock: new TickingClock(8 * MIN) });
  for (let i = 0; i < 3; i++) await projectAt(`p${i}`, Date.now() - 10 * MIN + i, [{ x: i }]);
  const runs: SnapshotReport[] = [];
  for (let run = 0; run < 3; run++) runs.push(await processSnapshots(deps));
  expect(runs.map((r) => ids(r, "created"))).toEqual([["p0"], ["p1"], ["p2"]]);
  expect(runs.map((r) => r.deferred)).toEqual([2, 1, 0]);
});
