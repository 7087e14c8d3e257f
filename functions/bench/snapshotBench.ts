import { isDeepStrictEqual } from "node:util";
import { FieldValue, Timestamp, type Firestore } from "firebase-admin/firestore";
import { loadProject } from "../src/core/snapshots/loadProject";
import { processSnapshots } from "../src/core/snapshots/processSnapshots";
import { applyOps, type Op } from "../src/core/snapshots/ops";
import { counted } from "./opCounter";
import { benchDeps, freshDb, log, round, ts, writeAll } from "./setup";

/** Section 3: what a snapshot run reads when 50 of 1,000 projects are due, and three ways to load a project. */
const H = 3600_000;

export async function snapshotBench() {
  const { db } = freshDb("snap");
  const now = Date.now();
  const docs: [string, Record<string, unknown>][] = [];
  // 950 projects not due: idle, or with a few ops since a recent snapshot.
  for (let i = 0; i < 950; i++) {
    const active = i % 2 === 0;
    docs.push([
      `canvasProjects/p${i}`,
      {
        ownerUid: "o",
        opIndex: 200,
        opsSinceSnapshot: active ? 10 : 0,
        lastSnapshotOpIndex: active ? 190 : 200,
        lastSnapshotAt: ts(now - 2 * H),
        latestSnapshotId: null,
        updatedAt: ts(now - 3 * H),
      },
    ]);
  }
  await writeAll(db, docs);
  const deps = benchDeps(db);
  // The first runs ever have no cursor yet: together they read every project once (500 a run) to place it.
  const first = { reads: 0, runs: 0, created: 0 };
  for (;;) {
    const run = await counted(() => processSnapshots(deps));
    first.reads += run.ops.reads;
    first.runs++;
    first.created += run.result.created.length;
    if (run.ops.reads < 100) break;
  }
  log(`snapshots first runs (placing the cursor): ${first.reads} reads in ${first.runs} runs`);

  // Then 50 projects become due, as the app's ops make them: 150 ops each since their last snapshot.
  const due: [string, Record<string, unknown>][] = [];
  for (let i = 0; i < 50; i++) {
    const id = `d${i}`;
    due.push([
      `canvasProjects/${id}`,
      {
        ownerUid: "o",
        opIndex: 149,
        opsSinceSnapshot: 150,
        lastSnapshotOpIndex: -1,
        lastSnapshotAt: ts(now - 2 * H),
        updatedAt: Timestamp.now(),
      },
    ]);
    for (let e = 0; e < 20; e++) due.push([`canvasProjects/${id}/elements/e${e}`, { x: e, y: e }]);
  }
  await writeAll(db, due);
  const steady = await counted(() => processSnapshots(deps));
  log(`snapshots steady run: ${steady.result.created.length} created, ${steady.ops.reads} reads, ${steady.ops.writes} writes`);

  return {
    projects: 1000,
    due: 50,
    firstRuns: first,
    steadyRun: {
      created: steady.result.created.length,
      reads: steady.ops.reads,
      writes: steady.ops.writes,
      deletes: steady.ops.deletes,
      readsPerSnapshot: round(steady.ops.reads / Math.max(1, steady.result.created.length), 1),
      ms: round(steady.ms),
    },
    load: await loadBench(db),
  };
}

async function loadBench(db: Firestore) {
  const id = "big";
  const ref = db.doc(`canvasProjects/${id}`);
  const docs: [string, Record<string, unknown>][] = [];
  const ops: Op[] = [];
  for (let i = 0; i < 2000; i++)
    ops.push({ index: i, type: "create", elementId: `e${i}`, data: { x: i, y: i, w: 100, h: 50, fill: "#ff0000", text: `shape ${i}` } });
  for (const op of ops) docs.push([`canvasProjects/${id}/ops/${String(op.index).padStart(8, "0")}`, { ...op, createdAt: Timestamp.now() }]);
  for (const [elementId, element] of Object.entries(applyOps({}, ops))) docs.push([`canvasProjects/${id}/elements/${elementId}`, element]);
  docs.push([`canvasProjects/${id}`, { ownerUid: "o", opIndex: 1999, opsSinceSnapshot: 2000, updatedAt: Timestamp.now() }]);
  await writeAll(db, docs);
  await processSnapshots(benchDeps(db), { projectId: id, force: true });
  // 40 ops after the snapshot, written as the app writes them.
  for (let k = 0; k < 40; k++) {
    const index = 2000 + k;
    const op: Op = { index, type: "update", elementId: `e${k * 7}`, data: { x: -k } };
    const batch = db.batch();
    batch.set(ref.collection("ops").doc(String(index).padStart(8, "0")), { ...op, createdAt: Timestamp.now() });
    batch.update(ref.collection("elements").doc(op.elementId), op.data!);
    batch.update(ref, { opIndex: index, opsSinceSnapshot: FieldValue.increment(1) });
    await batch.commit();
  }
  const fromSnapshot = await counted(() => loadProject(db, id));
  const allElements = await counted(async () =>
    Object.fromEntries((await ref.collection("elements").get()).docs.map((d) => [d.id, d.data()])),
  );
  const replay = await counted(async () =>
    applyOps(
      {},
      (await ref.collection("ops").orderBy("index").get()).docs.map((d) => d.data() as Op),
    ),
  );
  const same = isDeepStrictEqual(fromSnapshot.result.elements, allElements.result) && isDeepStrictEqual(replay.result, allElements.result);
  if (!same) throw new Error("the three ways of loading the project disagree");
  const row = (r: { ops: { reads: number }; ms: number }) => ({ reads: r.ops.reads, ms: round(r.ms) });
  const result = {
    elements: 2000,
    opsSinceSnapshot: 40,
    loadProject: row(fromSnapshot),
    allElements: row(allElements),
    replayAllOps: row(replay),
  };
  log(
    `load: snapshot ${result.loadProject.reads} reads ${result.loadProject.ms} ms; elements ${result.allElements.reads} reads ${result.allElements.ms} ms; replay ${result.replayAllOps.reads} reads ${result.replayAllOps.ms} ms`,
  );
  return result;
}
