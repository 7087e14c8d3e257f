import { readFileSync } from "node:fs";
import { join } from "node:path";
import { assertFails, assertSucceeds, initializeTestEnvironment, type RulesTestEnvironment } from "@firebase/rules-unit-testing";
import { deleteApp, initializeApp, type App } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";
import firebase from "firebase/compat/app";
import "firebase/compat/firestore";
import { setLogLevel } from "firebase/firestore";
import { readProject } from "../../src/core/snapshots/loadProject";
import { processSnapshots } from "../../src/core/snapshots/processSnapshots";
import { elementsOf, prng } from "../harness/canvas";
import { memoryLogger, testDeps } from "../harness/deps";
import { emulatorHost, uniqueProjectId } from "../harness/firestore";

/**
 * The op protocol as firestore.rules enforce it for clients (README "What an op is"), through the
 * client SDK on the emulator; then loadProject (Admin SDK) on what the rules accepted: for anything
 * a client can write, loadProject returns exactly what the elements collection holds.
 */
setLogLevel("error");
let env: RulesTestEnvironment;
let admin: App;
let db: Firestore;

beforeAll(async () => {
  const [host, port] = emulatorHost().split(":");
  const projectId = uniqueProjectId("canvasops");
  env = await initializeTestEnvironment({
    projectId,
    firestore: { host, port: Number(port), rules: readFileSync(join(__dirname, "../../../firestore.rules"), "utf8") },
  });
  admin = initializeApp({ projectId }, projectId);
  db = getFirestore(admin);
});
afterAll(async () => {
  await env.cleanup();
  await deleteApp(admin);
});

type Client = firebase.firestore.Firestore;
type Batch = firebase.firestore.WriteBatch;
type Op = { type: string; elementId: string; data?: Record<string, unknown> };
const { serverTimestamp, increment } = firebase.firestore.FieldValue;

// One client instance per test: a batch takes only its own instance's references.
let a: Client;
beforeEach(async () => {
  await env.clearFirestore();
  a = env.authenticatedContext("alice").firestore();
  await assertSucceeds(
    a.doc("canvasProjects/p1").set({ ownerUid: "alice", opIndex: -1, opsSinceSnapshot: 0, updatedAt: serverTimestamp() }),
  );
});

const project = () => a.doc("canvasProjects/p1");
const element = (id: string) => a.doc(`canvasProjects/p1/elements/${id}`);

/** The element change an op describes: set() for a create, update() for an update, delete() for a delete. */
function change(op: Op): (b: Batch) => void {
  if (op.type === "create") return (b) => b.set(element(op.elementId), op.data!);
  if (op.type === "update") return (b) => b.update(element(op.elementId), op.data!);
  return (b) => b.delete(element(op.elementId));
}

/** The app's client write (README): ops/{index}, the element change, and the counters, in one batch; `extra` adds writes to it. */
function append(index: number, op: Op, elementChange = change(op), extra: (b: Batch) => void = () => undefined) {
  const b = a.batch();
  b.set(a.doc(`canvasProjects/p1/ops/${index}`), { index, ...op, createdAt: serverTimestamp() });
  elementChange(b);
  extra(b);
  b.update(project(), { opIndex: index, opsSinceSnapshot: increment(1), updatedAt: serverTimestamp() });
  return b.commit();
}

async function snapshotNow() {
  expect((await processSnapshots(testDeps(db), { projectId: "p1", force: true })).created).toHaveLength(1);
}

/** loadProject equals the elements collection, from the snapshot (no fallback). */
async function expectLoadsAsElements() {
  const logger = memoryLogger();
  const loaded = await readProject(db, "p1", logger);
  expect(loaded.elements).toEqual(await elementsOf(db, "p1"));
  expect(logger.entries.filter((e) => e.message === "loadProject.fallback")).toEqual([]);
  return loaded;
}

/** p1 with e1 {x: 1, style: {c: 1}} (op 0) and a snapshot of it. */
async function withSnapshot() {
  await assertSucceeds(append(0, { type: "create", elementId: "e1", data: { x: 1, style: { c: 1 } } }));
  await snapshotNow();
}

describe("an op batch the app writes as the README prescribes", () => {
  it("is accepted for a create, an update of top-level fields (maps replaced whole) and a delete; loadProject replays them from the snapshot", async () => {
    await withSnapshot();
    await assertSucceeds(append(1, { type: "create", elementId: "e2", data: { y: 2 } }));
    await assertSucceeds(append(2, { type: "update", elementId: "e1", data: { x: 5, style: { c: 2, d: 3 }, added: true } }));
    await assertSucceeds(append(3, { type: "delete", elementId: "e2" }));
    await assertSucceeds(append(4, { type: "delete", elementId: "never-was" }));
    await assertSucceeds(append(5, { type: "create", elementId: "e1", data: { recreated: serverTimestamp() } }));
    expect(await expectLoadsAsElements()).toMatchObject({ source: "snapshot", opIndex: 5 });
  });
});

describe("an op the definition does not allow is refused", () => {
  it.each<[string, number, Op, ((b: Batch) => void) | undefined]>([
    ["an unknown type", 1, { type: "remove", elementId: "e1" }, (b) => b.delete(element("e1"))],
    [
      "a create whose element is not its data",
      1,
      { type: "create", elementId: "e2", data: { y: 2 } },
      (b) => b.set(element("e2"), { y: 3 }),
    ],
    ["a create without data", 1, { type: "create", elementId: "e2" }, (b) => b.set(element("e2"), {})],
    [
      "an update of an element that does not exist",
      1,
      { type: "update", elementId: "e9", data: { y: 1 } },
      (b) => b.set(element("e9"), { y: 1 }),
    ],
    ["an update without data", 1, { type: "update", elementId: "e1", data: {} }, (b) => b.update(element("e1"), { x: 2 })],
    [
      "an update whose element change is not its data",
      1,
      { type: "update", elementId: "e1", data: { x: 2 } },
      (b) => b.set(element("e1"), { totally: "different" }),
    ],
    [
      "an update that also changes another field",
      1,
      { type: "update", elementId: "e1", data: { x: 2 } },
      (b) => b.update(element("e1"), { x: 2, sneaky: 1 }),
    ],
    [
      "an update that merges into a map instead of replacing it",
      1,
      { type: "update", elementId: "e1", data: { style: { d: 3 } } },
      (b) => b.set(element("e1"), { style: { d: 3 } }, { merge: true }),
    ],
    [
      "an update with a dotted key (a client sends the whole top-level value)",
      1,
      { type: "update", elementId: "e1", data: { "style.c": 2 } },
      undefined,
    ],
    ["an update recorded with an increment sentinel", 1, { type: "update", elementId: "e1", data: { x: increment(1) } }, undefined],
    ["a delete that leaves the element", 1, { type: "delete", elementId: "e1" }, () => undefined],
    ["a delete with data", 1, { type: "delete", elementId: "e1", data: { x: 1 } }, (b) => b.delete(element("e1"))],
    ["an index that skips one", 2, { type: "delete", elementId: "e1" }, (b) => b.delete(element("e1"))],
    ["a reserved element id", 1, { type: "delete", elementId: "__x__" }, () => undefined],
  ])("%s", async (_name, index, op, elementChange) => {
    await withSnapshot();
    const b = a.batch();
    b.set(a.doc(`canvasProjects/p1/ops/${index}`), { index, ...op, createdAt: serverTimestamp() });
    (elementChange ?? change(op))(b);
    b.update(project(), { opIndex: index, opsSinceSnapshot: increment(1), updatedAt: serverTimestamp() });
    await assertFails(b.commit());
    await expectLoadsAsElements();
  });

  it("an extra field, or an id that is not the op's index", async () => {
    await withSnapshot();
    const op = (id: string, extra: Record<string, unknown> = {}) => {
      const b = a.batch();
      b.set(a.doc(`canvasProjects/p1/ops/${id}`), { index: 1, type: "delete", elementId: "e1", createdAt: serverTimestamp(), ...extra });
      b.delete(element("e1"));
      b.update(project(), { opIndex: 1, opsSinceSnapshot: increment(1), updatedAt: serverTimestamp() });
      return b.commit();
    };
    await assertFails(op("1", { by: "alice" }));
    await assertFails(op("o1"));
    await assertFails(op("00000001"));
    await assertSucceeds(op("1"));
  });
});

describe("a batch carries one op and changes only that op's element", () => {
  it("refuses a batch that also rewrites another element", async () => {
    await withSnapshot();
    await assertFails(
      append(1, { type: "create", elementId: "e2", data: { y: 2 } }, undefined, (b) => b.set(element("e1"), { hijacked: true })),
    );
    await expectLoadsAsElements();
  });

  it("refuses a second op with the same index in the batch", async () => {
    await withSnapshot();
    const second = (b: Batch) => {
      b.set(a.doc("canvasProjects/p1/ops/1"), { index: 1, type: "delete", elementId: "e1", createdAt: serverTimestamp() });
      b.delete(element("e1"));
    };
    await assertFails(append(1, { type: "create", elementId: "e2", data: { y: 2 } }, undefined, second));
    await expectLoadsAsElements();
  });

  it("refuses an element change without an op: with only the counters moved, or alone", async () => {
    await withSnapshot();
    const b = a.batch();
    b.set(element("e1"), { sneaky: 1 });
    b.update(project(), { opIndex: 1, opsSinceSnapshot: increment(1), updatedAt: serverTimestamp() });
    await assertFails(b.commit());
    await assertFails(element("e2").set({ y: 2 }));
    await assertFails(element("e1").delete());
    await expectLoadsAsElements();
  });

  it("refuses an op whose batch does not move opIndex to it, or another user's op", async () => {
    await withSnapshot();
    const b = a.batch();
    b.set(a.doc("canvasProjects/p1/ops/1"), { index: 1, type: "delete", elementId: "e1", createdAt: serverTimestamp() });
    b.delete(element("e1"));
    await assertFails(b.commit());
    const bob = env.authenticatedContext("bob").firestore();
    await assertFails(bob.doc("canvasProjects/p1/ops/1").set({ index: 1, type: "delete", elementId: "e1", createdAt: serverTimestamp() }));
  });

  it("ops are never rewritten or deleted", async () => {
    await withSnapshot();
    await assertFails(a.doc("canvasProjects/p1/ops/0").update({ type: "delete" }));
    await assertFails(a.doc("canvasProjects/p1/ops/0").delete());
  });
});

describe("the project's counters move only with an op", () => {
  it.each<[string, Record<string, unknown>]>([
    ["opIndex lowered", { opIndex: -1 }],
    ["opIndex raised without an op", { opIndex: 1 }],
    ["opIndex raised by 100", { opIndex: 100, opsSinceSnapshot: 101 }],
    ["opIndex removed", { opIndex: firebase.firestore.FieldValue.delete() }],
    ["opIndex a string", { opIndex: "0" }],
    ["opsSinceSnapshot set", { opsSinceSnapshot: 1000 }],
    ["opsSinceSnapshot set to Infinity", { opsSinceSnapshot: Infinity }],
    ["opsSinceSnapshot removed", { opsSinceSnapshot: firebase.firestore.FieldValue.delete() }],
    ["opsSinceSnapshot incremented without an op", { opsSinceSnapshot: increment(1) }],
  ])("refuses %s", async (_name, update) => {
    await withSnapshot();
    await assertFails(project().update(update));
  });

  it("refuses an op batch that does not count the op, or counts it twice", async () => {
    await withSnapshot();
    const op = (counter: Record<string, unknown>) => {
      const b = a.batch();
      b.set(a.doc("canvasProjects/p1/ops/1"), { index: 1, type: "delete", elementId: "e1", createdAt: serverTimestamp() });
      b.delete(element("e1"));
      b.update(project(), { opIndex: 1, updatedAt: serverTimestamp(), ...counter });
      return b.commit();
    };
    await assertFails(op({}));
    await assertFails(op({ opsSinceSnapshot: 5 }));
    await assertFails(op({ opsSinceSnapshot: increment(2) }));
    await assertSucceeds(op({ opsSinceSnapshot: increment(1) }));
  });

  it("lets the owner change the project's other fields (a title), with or without updatedAt", async () => {
    await withSnapshot();
    await assertSucceeds(project().update({ title: "renamed" }));
    await assertSucceeds(project().update({ title: "again", updatedAt: serverTimestamp() }));
  });
});

describe("updatedAt is the server time of the owner's write", () => {
  it.each<[string, unknown]>([
    ["back-dated", new Date(0)],
    ["in the future", new Date(Date.UTC(9999, 0, 1))],
    ["a string", "yesterday"],
    ["a number", 12345],
    ["null", null],
    ["removed", firebase.firestore.FieldValue.delete()],
  ])("refuses updatedAt %s", async (name, updatedAt) => {
    await assertFails(project().update({ updatedAt }));
    if (name !== "removed")
      await assertFails(a.doc("canvasProjects/p2").set({ ownerUid: "alice", opIndex: -1, opsSinceSnapshot: 0, updatedAt }));
  });

  it("an op batch must set it", async () => {
    const b = a.batch();
    b.set(a.doc("canvasProjects/p1/ops/0"), { index: 0, type: "create", elementId: "e1", data: { x: 1 }, createdAt: serverTimestamp() });
    b.set(element("e1"), { x: 1 });
    b.update(project(), { opIndex: 0, opsSinceSnapshot: increment(1) });
    await assertFails(b.commit());
  });

  it("a project is created with no ops and a server-time updatedAt (or none)", async () => {
    await assertFails(a.doc("canvasProjects/p3").set({ ownerUid: "alice", opIndex: 4, opsSinceSnapshot: 0, updatedAt: serverTimestamp() }));
    await assertFails(
      a.doc("canvasProjects/p3").set({ ownerUid: "alice", opIndex: -1, opsSinceSnapshot: 7, updatedAt: serverTimestamp() }),
    );
    await assertSucceeds(a.doc("canvasProjects/p3").set({ ownerUid: "alice" }));
  });
});

describe("property: random op sequences written by a client under the rules load exactly as the elements, with snapshots at random points", () => {
  const KEYS = ["x", "y", "style", "meta", "a.b", "é"];
  function value(rand: () => number, depth = 0): unknown {
    const r = rand();
    if (r < 0.25) return Math.floor(rand() * 100);
    if (r < 0.4) return `s${Math.floor(rand() * 10)}`;
    if (r < 0.5) return rand() < 0.5;
    if (r < 0.55) return null;
    if (r < 0.65) return [Math.floor(rand() * 5), `t${Math.floor(rand() * 5)}`];
    if (depth >= 2) return rand();
    return fields(rand, depth + 1);
  }
  function fields(rand: () => number, depth = 0, keys = KEYS): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const n = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < n; i++) out[keys[Math.floor(rand() * keys.length)]] = value(rand, depth);
    return out;
  }

  it.each([1, 2, 3])("seed %i", async (seed) => {
    const rand = prng(seed);
    const ids = ["el0", "el1", "el2", "el3"];
    const live = new Set<string>();
    let snapshots = 0;
    for (let index = 0; index < 30; index++) {
      const elementId = ids[Math.floor(rand() * ids.length)];
      const r = rand();
      // A create may carry a literal "a.b" field; an update's keys are top-level names (no dot), as the rules require.
      const op: Op =
        !live.has(elementId) || r < 0.2
          ? { type: "create", elementId, data: fields(rand) }
          : r < 0.85
            ? { type: "update", elementId, data: fields(rand, 1, ["x", "y", "style", "meta", "é"]) }
            : { type: "delete", elementId };
      await assertSucceeds(append(index, op));
      if (op.type === "delete") live.delete(elementId);
      else live.add(elementId);
      if (rand() < 0.2) {
        await snapshotNow();
        snapshots++;
      }
      if (snapshots > 0 && rand() < 0.3)
        expect({ seed, index, loaded: await expectLoadsAsElements() }).toMatchObject({
          seed,
          index,
          loaded: { source: "snapshot", opIndex: index },
        });
    }
    expect(snapshots).toBeGreaterThan(0);
    await expectLoadsAsElements();
  });
});
