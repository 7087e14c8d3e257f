import { readFileSync } from "node:fs";
import { join } from "node:path";
import { assertFails, assertSucceeds, initializeTestEnvironment, type RulesTestEnvironment } from "@firebase/rules-unit-testing";
import firebase from "firebase/compat/app";
import "firebase/compat/firestore";
import { setLogLevel } from "firebase/firestore";
import { emulatorHost, uniqueProjectId } from "../harness/firestore";

// Every denied write is expected here; the client SDK would warn about each one.
setLogLevel("error");

/** firestore.rules on the emulator, through the client SDK: every allowed case succeeds, every denied one fails. */
let env: RulesTestEnvironment;

beforeAll(async () => {
  const [host, port] = emulatorHost().split(":");
  env = await initializeTestEnvironment({
    projectId: uniqueProjectId("rules"),
    firestore: { host, port: Number(port), rules: readFileSync(join(__dirname, "../../../firestore.rules"), "utf8") },
  });
});
beforeEach(async () => {
  await env.clearFirestore();
  await env.withSecurityRulesDisabled(async (ctx) => {
    const db = ctx.firestore();
    await db.doc("publicGenerations/g1").set({ uid: "alice", prompt: "p" });
    await db.doc("signupImageCache/current").set({ images: [], count: 0 });
    await db.doc("mirrorQueue/t1").set({ op: "upsert", uid: "alice", historyId: "h1" });
    await db.doc("mirrorState/h1").set({ taskId: "t1" });
    await db.doc("workerState/mirrorQueueScan").set({ taskId: "t1" });
    await db.doc("users/alice").set({ username: "alice" });
    await db.doc("generationHistory/alice/items/h1").set({ uid: "alice", prompt: "p", isPublic: true });
    await db.doc("canvasProjects/p1").set({ ownerUid: "alice", opIndex: 0, opsSinceSnapshot: 1, lastSnapshotOpIndex: -1 });
    await db.doc("canvasProjects/p1/elements/e1").set({ x: 1 });
    await db.doc("canvasProjects/p1/ops/o1").set({ index: 0, type: "create", elementId: "e1" });
    await db.doc("canvasProjects/p1/snapshots/s1").set({ opIndex: 0 });
    await db.doc("canvasProjects/p1/snapshots/s1/parts/0").set({ index: 0, elements: {} });
    await db.doc("canvasMedia/m1").set({ ownerUid: "alice", storageKey: "k", referencedByCount: 0 });
  });
});
afterAll(() => env.cleanup());

const anon = () => env.unauthenticatedContext().firestore();
const alice = () => env.authenticatedContext("alice").firestore();
const bob = () => env.authenticatedContext("bob").firestore();
// The contexts' Firestore is the compat API: its own sentinels.
const serverTimestamp = () => firebase.firestore.FieldValue.serverTimestamp();
const increment = (n: number) => firebase.firestore.FieldValue.increment(n);
type Batch = firebase.firestore.WriteBatch;

describe("public collections: anyone reads, no client writes", () => {
  it.each(["publicGenerations/g1", "signupImageCache/current"])("%s", async (path) => {
    await assertSucceeds(anon().doc(path).get());
    await assertSucceeds(alice().doc(path).get());
    await assertFails(alice().doc(path).set({ forged: true }));
    await assertFails(anon().doc(path).set({ forged: true }));
    await assertFails(alice().doc(path).delete());
    await assertFails(alice().doc(path.replace(/\/[^/]+$/, "/new")).set({ uid: "alice" }));
  });
});

describe("worker-private collections: no client access at all", () => {
  it.each(["mirrorQueue/t1", "mirrorState/h1", "workerState/mirrorQueueScan"])("%s", async (path) => {
    await assertFails(alice().doc(path).get());
    await assertFails(anon().doc(path).get());
    await assertFails(alice().doc(path).set({ status: "done" }));
    await assertFails(alice().collection(path.split("/")[0]).add({ op: "upsert", uid: "alice", historyId: "h2" }));
  });
});

describe("users/{uid}", () => {
  it("is readable by signed-in users and writable only by its owner", async () => {
    await assertSucceeds(bob().doc("users/alice").get());
    await assertFails(anon().doc("users/alice").get());
    await assertSucceeds(alice().doc("users/alice").set({ username: "alice2" }));
    await assertFails(bob().doc("users/alice").set({ username: "hacked" }));
    await assertFails(anon().doc("users/alice").set({ username: "hacked" }));
  });
});

describe("generationHistory/{uid}/items", () => {
  it("belongs to its owner only", async () => {
    await assertSucceeds(alice().doc("generationHistory/alice/items/h1").get());
    await assertSucceeds(alice().doc("generationHistory/alice/items/h2").set({ uid: "alice", prompt: "new" }));
    await assertSucceeds(alice().doc("generationHistory/alice/items/h1").delete());
    await assertFails(bob().doc("generationHistory/alice/items/h1").get());
    await assertFails(bob().doc("generationHistory/alice/items/h3").set({ uid: "alice" }));
    await assertFails(anon().doc("generationHistory/alice/items/h1").get());
  });
  it("refuses an item that claims another user's uid", async () => {
    await assertFails(alice().doc("generationHistory/alice/items/h4").set({ uid: "bob", prompt: "forged" }));
  });
});

describe("canvasProjects", () => {
  it("belong to their owner; another user or anonymous gets nothing", async () => {
    await assertSucceeds(alice().doc("canvasProjects/p1").get());
    await assertFails(bob().doc("canvasProjects/p1").get());
    await assertFails(anon().doc("canvasProjects/p1").get());
    await assertSucceeds(alice().doc("canvasProjects/p2").set({ ownerUid: "alice", opIndex: -1, opsSinceSnapshot: 0 }));
    await assertFails(bob().doc("canvasProjects/p3").set({ ownerUid: "alice" }));
    await assertFails(bob().doc("canvasProjects/p1").update({ opIndex: 5 }));
  });
  it("let the owner update the op counters but never the worker's fields or the owner", async () => {
    await assertSucceeds(alice().doc("canvasProjects/p1").update({ opIndex: 1, opsSinceSnapshot: 2 }));
    for (const field of ["lastSnapshotOpIndex", "latestSnapshotId", "lastSnapshotAt", "snapshotCheckAfter", "snapshotFailure"]) {
      await assertFails(alice().doc("canvasProjects/p1").update({ [field]: field === "lastSnapshotOpIndex" ? 99 : "forged" }));
      await assertFails(alice().doc(`canvasProjects/new-${field}`).set({ ownerUid: "alice", [field]: "forged" }));
    }
    await assertFails(alice().doc("canvasProjects/p1").update({ ownerUid: "bob" }));
  });
  it("snapshots: the owner reads them and their parts; no client writes them", async () => {
    await assertSucceeds(alice().doc("canvasProjects/p1/snapshots/s1").get());
    await assertSucceeds(alice().doc("canvasProjects/p1/snapshots/s1/parts/0").get());
    await assertFails(bob().doc("canvasProjects/p1/snapshots/s1").get());
    await assertFails(alice().doc("canvasProjects/p1/snapshots/s2").set({ opIndex: 5 }));
    await assertFails(alice().doc("canvasProjects/p1/snapshots/s1").delete());
    await assertFails(alice().doc("canvasProjects/p1/snapshots/s1/parts/1").set({ index: 1 }));
  });
});

describe("canvas ops and elements: the op definition, as rules can check it", () => {
  // One client instance per test: a batch takes only its own instance's references.
  let a: firebase.firestore.Firestore;
  beforeEach(() => {
    a = alice();
  });
  const project = () => a.doc("canvasProjects/p1");
  /** The app's write: the op, its element change and the project's counters, in one batch (p1 is at opIndex 0). */
  const append = (op: Record<string, unknown>, change: (b: Batch) => void, counters: Record<string, unknown> = { opIndex: 1 }) => {
    const b = a.batch();
    b.set(a.doc("canvasProjects/p1/ops/o2"), { createdAt: serverTimestamp(), ...op });
    change(b);
    b.update(project(), { ...counters, opsSinceSnapshot: increment(1) });
    return b.commit();
  };
  const element = (id: string) => a.doc(`canvasProjects/p1/elements/${id}`);

  it("accepts a create, an update (with dotted paths) and a delete, each with its element change and the next opIndex", async () => {
    await assertSucceeds(append({ index: 1, type: "create", elementId: "e2", data: { y: 2, style: { c: 1 } } }, (b) => b.set(element("e2"), { y: 2, style: { c: 1 } })));
    await assertSucceeds(a.doc("canvasProjects/p1/ops/o1").get());
    const b = a.batch();
    b.set(a.doc("canvasProjects/p1/ops/o3"), { index: 2, type: "update", elementId: "e2", data: { "style.c": 3 }, createdAt: serverTimestamp() });
    b.update(element("e2"), { "style.c": 3 });
    b.update(project(), { opIndex: 2 });
    await assertSucceeds(b.commit());
    const d = a.batch();
    d.set(a.doc("canvasProjects/p1/ops/o4"), { index: 3, type: "delete", elementId: "e2", createdAt: serverTimestamp() });
    d.delete(element("e2"));
    d.update(project(), { opIndex: 3 });
    await assertSucceeds(d.commit());
  });

  it.each([
    ["an unknown type", { index: 1, type: "remove", elementId: "e1" }, (b: Batch) => b.delete(element("e1"))],
    ["a create whose element is not its data", { index: 1, type: "create", elementId: "e2", data: { y: 2 } }, (b: Batch) => b.set(element("e2"), { y: 3 })],
    ["a create without data", { index: 1, type: "create", elementId: "e2" }, (b: Batch) => b.set(element("e2"), {})],
    ["an update of an element that does not exist", { index: 1, type: "update", elementId: "e9", data: { y: 1 } }, (b: Batch) => b.set(element("e9"), { y: 1 })],
    ["an update without data", { index: 1, type: "update", elementId: "e1", data: {} }, (b: Batch) => b.update(element("e1"), { x: 2 })],
    ["a delete that leaves the element", { index: 1, type: "delete", elementId: "e1" }, () => undefined],
    ["a delete with data", { index: 1, type: "delete", elementId: "e1", data: { x: 1 } }, (b: Batch) => b.delete(element("e1"))],
    ["an index that skips one", { index: 2, type: "delete", elementId: "e1" }, (b: Batch) => b.delete(element("e1"))],
    ["an extra field", { index: 1, type: "delete", elementId: "e1", by: "alice" }, (b: Batch) => b.delete(element("e1"))],
    ["a reserved element id", { index: 1, type: "delete", elementId: "__x__" }, () => undefined],
  ])("refuses %s", async (_name, op, change) => {
    await assertFails(append(op, change));
  });

  it("refuses an op whose batch does not move opIndex to it, and an element change without an op", async () => {
    await assertFails(append({ index: 1, type: "delete", elementId: "e1" }, (b) => b.delete(element("e1")), { opIndex: 0 }));
    await assertFails(element("e2").set({ y: 2 }));
    await assertFails(element("e1").delete());
    await assertFails(bob().doc("canvasProjects/p1/ops/o3").set({ index: 1, type: "delete", elementId: "e1", createdAt: serverTimestamp() }));
  });

  it("elements: the owner reads them; ops are never rewritten or deleted", async () => {
    await assertSucceeds(element("e1").get());
    await assertFails(bob().doc("canvasProjects/p1/elements/e1").get());
    await assertFails(a.doc("canvasProjects/p1/ops/o1").update({ type: "delete" }));
    await assertFails(a.doc("canvasProjects/p1/ops/o1").delete());
  });
});

describe("deleting a canvas project", () => {
  const deleteWithTombstone = (as: firebase.firestore.Firestore, uid: string) => {
    const b = as.batch();
    b.delete(as.doc("canvasProjects/p1"));
    b.set(as.doc("deletedCanvasProjects/p1"), { ownerUid: uid, deletedAt: serverTimestamp() });
    return b.commit();
  };

  it("needs the project's tombstone in the same batch, written by its owner", async () => {
    await assertFails(alice().doc("canvasProjects/p1").delete());
    await assertFails(deleteWithTombstone(bob(), "bob"));
    await assertFails(alice().doc("deletedCanvasProjects/p1").set({ ownerUid: "alice", deletedAt: serverTimestamp() }));
    await assertSucceeds(deleteWithTombstone(alice(), "alice"));
    await assertSucceeds(alice().doc("deletedCanvasProjects/p1").get());
    await assertFails(bob().doc("deletedCanvasProjects/p1").get());
  });

  it("an id reused by another user cannot reach the old elements, ops or snapshots (they stay until the cleanup removes them)", async () => {
    await assertSucceeds(deleteWithTombstone(alice(), "alice"));
    await assertFails(bob().doc("canvasProjects/p1").set({ ownerUid: "bob", opIndex: -1, opsSinceSnapshot: 0 }));
    await assertFails(alice().doc("canvasProjects/p1").set({ ownerUid: "alice", opIndex: -1, opsSinceSnapshot: 0 }));
    for (const path of ["elements/e1", "ops/o1", "snapshots/s1", "snapshots/s1/parts/0"]) {
      await assertFails(bob().doc(`canvasProjects/p1/${path}`).get());
      await assertFails(alice().doc(`canvasProjects/p1/${path}`).get());
    }
    await assertFails(bob().doc("canvasProjects/p1/ops/o2").set({ index: 1, type: "delete", elementId: "e1", createdAt: serverTimestamp() }));
  });
});

describe("canvasMedia", () => {
  it("is readable by its owner only; referencedByCount and deletion are server-side", async () => {
    await assertSucceeds(alice().doc("canvasMedia/m1").get());
    await assertFails(bob().doc("canvasMedia/m1").get());
    await assertFails(anon().doc("canvasMedia/m1").get());
    await assertFails(alice().doc("canvasMedia/m1").update({ referencedByCount: 5 }));
    await assertFails(alice().doc("canvasMedia/m1").delete());
    await assertFails(alice().doc("canvasMedia/m2").set({ ownerUid: "alice", storageKey: "k2", referencedByCount: 0 }));
  });
});

describe("anything not named", () => {
  it("is denied", async () => {
    await assertFails(alice().doc("secrets/x").get());
    await assertFails(alice().doc("secrets/x").set({ a: 1 }));
  });
});
