import { Timestamp } from "firebase-admin/firestore";
import { deleteProjectData } from "../../src/core/snapshots/deleteProject";
import { processSnapshots } from "../../src/core/snapshots/processSnapshots";
import { claimProject } from "../../src/core/snapshots/projectMarks";
import { documentDeletedEvent } from "../../dev/firestoreEvents";
import { appendOp, createProject, docsUnder } from "../harness/canvas";
import { memoryLogger, testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { afterFirstPartsWrite } from "../harness/firestoreFaults";
import { functionsRuntimeEnv } from "../../dev/functionsRuntime";

/** Deleting a canvas project deletes its data: every subcollection, and no snapshot part written while it went. */
let fs: TestFirestore;
let functions: typeof import("../../src/index");

beforeAll(async () => {
  fs = createTestFirestore("projdelete");
  // The deployed code uses the default app, which takes its project from the environment.
  Object.assign(process.env, functionsRuntimeEnv(fs.projectId));
  functions = await import("../../src/index");
});
beforeEach(() => fs.clear());
afterAll(async () => {
  await fs.close();
});

/** A project with elements, ops, a snapshot in parts (two elements of 600 KB) and a subcollection the workers do not know. */
async function fullProject(id: string) {
  await createProject(fs.db, id);
  for (let i = 0; i < 2; i++) await appendOp(fs.db, id, { type: "create", elementId: `big${i}`, data: { blob: "x".repeat(600_000) } });
  await appendOp(fs.db, id, { type: "create", elementId: "small", data: { x: 1 } });
  const [created] = (await processSnapshots(testDeps(fs.db), { projectId: id, force: true })).created;
  expect(created.partCount).toBe(2);
  await fs.db.doc(`canvasProjects/${id}/comments/c1`).set({ text: "nice" });
}

/** What the app does to delete a project (the project and its tombstone in one batch); returns the event Eventarc then delivers. */
async function deleteAsTheApp(id: string) {
  const project = await fs.db.doc(`canvasProjects/${id}`).get();
  const batch = fs.db.batch();
  batch.delete(fs.db.doc(`canvasProjects/${id}`));
  batch.set(fs.db.doc(`deletedCanvasProjects/${id}`), { ownerUid: "owner", deletedAt: Timestamp.now() });
  await batch.commit();
  return documentDeletedEvent(project, fs.projectId);
}

it("onCanvasProjectDeleted deletes the project's elements, ops, snapshots with their parts, any other subcollection, and its snapshot failure record", async () => {
  await fullProject("p");
  await fullProject("neighbour");
  // A run that claimed p's next snapshot and died: p has a failure record.
  await appendOp(fs.db, "p", { type: "delete", elementId: "small" });
  expect(await claimProject(fs.db, "p", Date.now(), { maxOps: 100, maxHours: 24 }, true)).toMatchObject({ claimed: true });
  const failure = fs.db.doc("canvasSnapshotFailures/p");
  expect((await failure.get()).exists).toBe(true);
  const before = await docsUnder(fs.db, "p");
  const neighbour = await docsUnder(fs.db, "neighbour");
  expect(before.filter((p) => p.includes("/parts/"))).toHaveLength(2);
  expect(before).toContain("canvasProjects/p/comments/c1");

  const deleted = await deleteAsTheApp("p");
  await functions.onCanvasProjectDeleted(deleted);

  expect(await docsUnder(fs.db, "p")).toEqual([]);
  expect((await failure.get()).exists).toBe(false);
  expect(await docsUnder(fs.db, "neighbour")).toEqual(neighbour);
  // A second delivery of the same event is harmless.
  await functions.onCanvasProjectDeleted(deleted);
  expect(await docsUnder(fs.db, "p")).toEqual([]);
});

it("writes the tombstone when the delete came without one (Admin SDK), and leaves a project that exists again alone", async () => {
  await fullProject("admin-deleted");
  await fs.db.doc("canvasProjects/admin-deleted").delete();
  const report = await deleteProjectData(testDeps(fs.db), "admin-deleted", { ownerUid: "owner" });
  expect(report).toMatchObject({ deleted: expect.any(Number), recreated: false });
  expect(report.deleted).toBeGreaterThan(5);
  expect((await fs.db.doc("deletedCanvasProjects/admin-deleted").get()).data()).toMatchObject({ ownerUid: "owner" });

  await fullProject("back-again");
  const logger = memoryLogger();
  expect(await deleteProjectData(testDeps(fs.db, { logger }), "back-again")).toEqual({
    projectId: "back-again",
    deleted: 0,
    recreated: true,
  });
  expect((await docsUnder(fs.db, "back-again")).length).toBeGreaterThan(5);
  expect(logger.entries).toContainEqual(expect.objectContaining({ severity: "WARNING", message: "project.recreated" }));
});

it("a project deleted while its snapshot is being written leaves no orphan parts, and no failure record", async () => {
  // Ten elements of 460 KB, one per part (two would pass 900 KB): ten parts, written in several commits; the project goes after the first.
  await createProject(fs.db, "big");
  for (let i = 0; i < 10; i++) await appendOp(fs.db, "big", { type: "create", elementId: `e${i}`, data: { blob: `${i}`.repeat(460_000) } });
  let deletedMidway = false;
  const db = afterFirstPartsWrite(fs.db, async () => {
    await fs.db.recursiveDelete(fs.db.doc("canvasProjects/big"));
    deletedMidway = true;
  });

  const report = await processSnapshots(testDeps(db), { projectId: "big", force: true });

  expect(deletedMidway).toBe(true);
  expect(report.created).toEqual([]);
  expect(await docsUnder(fs.db, "big")).toEqual([]);
  // The claim's failure record ("did not finish") goes with it.
  expect((await fs.db.doc("canvasSnapshotFailures/big").get()).exists).toBe(false);
  expect((await fs.db.doc("canvasProjects/big").get()).exists).toBe(false);
});
