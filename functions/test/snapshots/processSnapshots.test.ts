import { Timestamp } from "firebase-admin/firestore";
import { loadProject } from "../../src/core/snapshots/loadProject";
import { processSnapshots } from "../../src/core/snapshots/processSnapshots";
import { applyOps, type Op } from "../../src/core/snapshots/ops";
import { memoryLogger, testDeps } from "../harness/deps";
import { appendOp, createProject, elementsOf, prng, type OpInput } from "../harness/canvas";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";

let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("snapshots");
});
beforeEach(() => fs.clear());
afterAll(() => fs.close());

const H = 3600_000;
const deps = (config = {}) => testDeps(fs.db, { config });
const project = async (id: string) => (await fs.db.doc(`canvasProjects/${id}`).get()).data()!;
const snapshotsOf = async (id: string) => (await fs.db.collection(`canvasProjects/${id}/snapshots`).orderBy("opIndex").get()).docs;

/** A project whose counters say what the test needs, with `ops` real ops behind them. */
async function projectWith(id: string, ops: number, lastSnapshotAgoMs?: number) {
  await createProject(fs.db, id);
  for (let i = 0; i < ops; i++) await appendOp(fs.db, id, { type: "create", elementId: `e${i}`, data: { i } });
  if (lastSnapshotAgoMs !== undefined) {
    await fs.db
      .doc(`canvasProjects/${id}`)
      .update({ lastSnapshotAt: Timestamp.fromMillis(Date.now() - lastSnapshotAgoMs), lastSnapshotOpIndex: -1 });
  }
}

/** A project whose counters say `opsSinceSnapshot` ops since a snapshot an hour ago (no ops behind them). */
async function projectCounting(id: string, opsSinceSnapshot: number) {
  await fs.db.doc(`canvasProjects/${id}`).set({
    ownerUid: "o",
    opIndex: opsSinceSnapshot - 1,
    opsSinceSnapshot,
    lastSnapshotAt: Timestamp.fromMillis(Date.now() - H),
    lastSnapshotOpIndex: -1,
    updatedAt: Timestamp.now(),
  });
}

it("snapshots exactly the projects that meet the criteria, at their edges", async () => {
  await projectCounting("ops99", 99);
  await projectCounting("ops100", 100);
  await projectWith("under24h", 1, 24 * H - 60_000);
  await projectWith("over24h", 1, 24 * H + 60_000);
  await projectWith("noOpsOld", 0, 100 * H);
  await projectWith("never", 2);

  const report = await processSnapshots(deps());

  expect(report.created.map((c) => c.projectId).sort()).toEqual(["never", "ops100", "over24h"]);
  expect(report.failed).toEqual([]);
  expect(await project("ops100")).toMatchObject({ lastSnapshotOpIndex: 99, opsSinceSnapshot: 0, latestSnapshotId: "op-000000000100" });
  expect(await project("never")).toMatchObject({ lastSnapshotOpIndex: 1, opsSinceSnapshot: 0 });
  expect((await project("never")).lastSnapshotAt).toBeInstanceOf(Timestamp);
  const [snap] = await snapshotsOf("never");
  expect(snap.data()).toMatchObject({ opIndex: 1, elementCount: 2, version: 1, partCount: 0, elements: { e0: { i: 0 }, e1: { i: 1 } } });
  // A second run finds nothing more to do.
  expect((await processSnapshots(deps())).created).toEqual([]);
});

it("a snapshot is exactly the state after its opIndex while a writer keeps appending ops", async () => {
  await createProject(fs.db, "busy");
  for (let i = 0; i < 20; i++) await appendOp(fs.db, "busy", { type: "create", elementId: `e${i}`, data: { v: 0 } });
  let writing = true;
  const writer = (async () => {
    const rand = prng(7);
    const live = new Set(Array.from({ length: 20 }, (_, i) => `e${i}`));
    for (let n = 0; writing && n < 400; n++) {
      const id = `e${Math.floor(rand() * 25)}`;
      const r = rand();
      // update() needs an element that exists.
      const op: OpInput =
        r < 0.2
          ? { type: "delete", elementId: id }
          : { type: r < 0.6 || !live.has(id) ? "create" : "update", elementId: id, data: { v: n } };
      await appendOp(fs.db, "busy", op);
      if (op.type === "delete") live.delete(id);
      else live.add(id);
    }
  })();
  const created = [];
  for (let i = 0; i < 4; i++) {
    const report = await processSnapshots(deps(), { projectId: "busy", force: true });
    created.push(...report.created);
  }
  writing = false;
  await writer;

  expect(created.length).toBeGreaterThan(0);
  const ops = (await fs.db.collection("canvasProjects/busy/ops").orderBy("index").get()).docs.map((d) => d.data() as Op);
  for (const c of created) {
    const snap = (await fs.db.doc(`canvasProjects/busy/snapshots/${c.snapshotId}`).get()).data()!;
    expect(snap.elements).toEqual(
      applyOps(
        {},
        ops.filter((op) => op.index <= c.opIndex),
      ),
    );
  }
  // The counter went down by exactly the ops the snapshots covered.
  const p = await project("busy");
  expect(p.opsSinceSnapshot).toBe(p.opIndex - p.lastSnapshotOpIndex);
});

it("a project over 1 MiB gets a complete snapshot in parts, and loads from it", async () => {
  await createProject(fs.db, "big");
  const writer = fs.db.bulkWriter();
  for (let i = 0; i < 1500; i++) writer.set(fs.db.doc(`canvasProjects/big/elements/e${i}`), { text: "x".repeat(1000), i });
  await writer.close();
  await fs.db.doc("canvasProjects/big").update({ opIndex: 1499, opsSinceSnapshot: 1500 });

  const report = await processSnapshots(deps(), { projectId: "big" });

  expect(report.created).toHaveLength(1);
  expect(report.created[0].partCount).toBeGreaterThanOrEqual(2);
  const [snap] = await snapshotsOf("big");
  expect(snap.get("elements")).toBeUndefined();
  expect(snap.get("elementCount")).toBe(1500);
  const loaded = await loadProject(fs.db, "big", { logger: memoryLogger() });
  expect(loaded.opIndex).toBe(1499);
  expect(loaded.elements).toEqual(await elementsOf(fs.db, "big"));

  // Retention removes a pruned snapshot's parts with it.
  await appendOp(fs.db, "big", { type: "delete", elementId: "e0" });
  await processSnapshots(deps({ SNAPSHOT_KEEP: 1 }), { projectId: "big", force: true });
  expect((await snapshotsOf("big")).map((d) => d.get("opIndex"))).toEqual([1500]);
  expect((await fs.db.collectionGroup("parts").get()).docs.map((d) => d.ref.parent.parent!.id)).toEqual(
    Array(report.created[0].partCount).fill("op-000000001501"),
  );
});

it("keeps the newest SNAPSHOT_KEEP snapshots and deletes older ones with their parts", async () => {
  await createProject(fs.db, "kept");
  for (let i = 0; i < 5; i++) {
    await appendOp(fs.db, "kept", { type: "create", elementId: `e${i}`, data: { i } });
    await processSnapshots(deps({ SNAPSHOT_KEEP: 3 }), { projectId: "kept", force: true });
  }
  expect((await snapshotsOf("kept")).map((d) => d.get("opIndex"))).toEqual([2, 3, 4]);
});

it("loadProject does not trust a snapshot that does not add up: a gap in the ops, or a missing part", async () => {
  await createProject(fs.db, "gappy");
  for (let i = 0; i < 3; i++) await appendOp(fs.db, "gappy", { type: "create", elementId: `e${i}`, data: { i } });
  await processSnapshots(deps(), { projectId: "gappy", force: true });
  for (let i = 3; i < 6; i++) await appendOp(fs.db, "gappy", { type: "update", elementId: `e${i % 3}`, data: { i } });
  // An op after the snapshot went missing: replaying would silently skip it.
  await fs.db.doc("canvasProjects/gappy/ops/4").delete();
  const logger = memoryLogger();
  expect(await loadProject(fs.db, "gappy", { logger })).toEqual({ opIndex: 5, elements: await elementsOf(fs.db, "gappy") });
  expect(logger.entries).toContainEqual(
    expect.objectContaining({ message: "loadProject.fallback", reason: expect.stringContaining("a gap in the ops") }),
  );

  await createProject(fs.db, "partless");
  const writer = fs.db.bulkWriter();
  for (let i = 0; i < 1200; i++) writer.set(fs.db.doc(`canvasProjects/partless/elements/e${i}`), { text: "y".repeat(1000) });
  await writer.close();
  await fs.db.doc("canvasProjects/partless").update({ opIndex: 0, opsSinceSnapshot: 1 });
  const [created] = (await processSnapshots(deps(), { projectId: "partless" })).created;
  expect(created.partCount).toBeGreaterThan(1);
  await fs.db.doc(`canvasProjects/partless/snapshots/${created.snapshotId}/parts/1`).delete();
  const loaded = await loadProject(fs.db, "partless", { logger });
  expect(Object.keys(loaded.elements)).toHaveLength(1200);
  expect(loaded.elements).toEqual(await elementsOf(fs.db, "partless"));
  expect(logger.entries).toContainEqual(
    expect.objectContaining({ message: "loadProject.fallback", reason: expect.stringContaining("has 1 of its 2 parts") }),
  );
});

it("takes at most batchSize projects a run", async () => {
  for (let i = 0; i < 5; i++) await projectWith(`b${i}`, 1);
  expect((await processSnapshots(deps(), { batchSize: 2 })).created).toHaveLength(2);
  expect((await processSnapshots(deps(), { batchSize: 2 })).created).toHaveLength(2);
  expect((await processSnapshots(deps(), { batchSize: 2 })).created).toHaveLength(1);
});

it("a failing project does not stop the run", async () => {
  await projectWith("good1", 1);
  await createProject(fs.db, "broken");
  // One element too large for any snapshot part: a real failure of this project only.
  await appendOp(fs.db, "broken", { type: "create", elementId: "huge", data: { blob: "x".repeat(950_000) } });
  await projectWith("good2", 1);
  const report = await processSnapshots(deps());
  expect(report.created.map((c) => c.projectId).sort()).toEqual(["good1", "good2"]);
  expect(report.failed).toEqual([
    expect.objectContaining({ projectId: "broken", error: expect.stringContaining("element huge alone is"), permanent: true }),
  ]);
});

it("two runs at once make one snapshot per state and decrement each counter once", async () => {
  for (let i = 0; i < 6; i++) await projectWith(`c${i}`, 3);
  const [a, b] = await Promise.all([processSnapshots(deps()), processSnapshots(deps())]);
  expect(a.failed.concat(b.failed)).toEqual([]);
  expect(a.created.length + b.created.length).toBe(6);
  for (let i = 0; i < 6; i++) {
    expect(await snapshotsOf(`c${i}`)).toHaveLength(1);
    expect(await project(`c${i}`)).toMatchObject({ opsSinceSnapshot: 0, lastSnapshotOpIndex: 2 });
  }
});
