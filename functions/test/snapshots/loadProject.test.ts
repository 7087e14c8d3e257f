import { Timestamp } from "firebase-admin/firestore";
import { loadProject, readProject } from "../../src/core/snapshots/loadProject";
import { processSnapshots } from "../../src/core/snapshots/processSnapshots";
import { appendOp, appendRawOp, createProject, elementsOf, prng, type OpInput } from "../harness/canvas";
import { memoryLogger, testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";

/** loadProject returns exactly what the elements collection holds: it follows the op definition, and falls back on any op outside it. */
let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("loadproj");
});
beforeEach(() => fs.clear());
afterAll(() => fs.close());

const snapshot = (id: string) => processSnapshots(testDeps(fs.db), { projectId: id, force: true });
const fallbacks = (logger: ReturnType<typeof memoryLogger>) => logger.entries.filter((e) => e.message === "loadProject.fallback");

/** A project with two elements and a snapshot of them. */
async function snapshotted(id: string) {
  await createProject(fs.db, id);
  await appendOp(fs.db, id, { type: "create", elementId: "e1", data: { x: 1, style: { color: "blue", width: 2 } } });
  await appendOp(fs.db, id, { type: "create", elementId: "e2", data: { y: 2 } });
  expect((await snapshot(id)).created).toHaveLength(1);
}

it("an op of an unknown type (remove for delete) makes loadProject read the elements, and say so in a log", async () => {
  await snapshotted("p");
  await appendRawOp(fs.db, "p", { type: "remove", elementId: "e1" }, (batch, elements) => batch.delete(elements.doc("e1")));
  const logger = memoryLogger();
  const loaded = await loadProject(fs.db, "p", { logger });
  expect(loaded).toEqual({ opIndex: 2, elements: await elementsOf(fs.db, "p") });
  expect(loaded.elements).not.toHaveProperty("e1");
  expect(fallbacks(logger)).toEqual([
    expect.objectContaining({
      severity: "WARNING",
      projectId: "p",
      reason: expect.stringContaining('type must be "create", "update" or "delete", not "remove"'),
    }),
  ]);
});

it('an update {"style.color": "red"} applied with update() loads as the nested change the collection holds, from the snapshot', async () => {
  await createProject(fs.db, "p");
  await appendOp(fs.db, "p", {
    type: "create",
    elementId: "e1",
    data: { style: { color: "blue", width: 2 }, "style.color": "a literal field" },
  });
  expect((await snapshot("p")).created).toHaveLength(1);
  await appendOp(fs.db, "p", { type: "update", elementId: "e1", data: { "style.color": "red" } });
  const logger = memoryLogger();
  const loaded = await loadProject(fs.db, "p", { logger });
  expect(loaded).toEqual({ opIndex: 1, elements: await elementsOf(fs.db, "p") });
  expect(loaded.elements.e1).toEqual({ style: { color: "red", width: 2 }, "style.color": "a literal field" });
  expect(fallbacks(logger)).toEqual([]);
});

// Writers that do not follow the definition: each op and its element change as that writer made them.
type Raw = [string, Record<string, unknown>, (b: FirebaseFirestore.WriteBatch, els: FirebaseFirestore.CollectionReference) => void, string];
const OUTSIDE_THE_DEFINITION: Raw[] = [
  ["no type", { elementId: "e1", data: { x: 5 } }, (b, els) => b.set(els.doc("e1"), { x: 5 }), "type must be"],
  [
    "update data that is not a map",
    { type: "update", elementId: "e1", data: "x=5" },
    (b, els) => b.update(els.doc("e1"), { x: 5 }),
    "data must be a map",
  ],
  [
    "an update of an element that does not exist (the writer used set)",
    { type: "update", elementId: "ghost", data: { x: 1 } },
    (b, els) => b.set(els.doc("ghost"), { x: 1 }),
    "which does not exist",
  ],
  [
    "an update that sets a field and a field inside it",
    { type: "update", elementId: "e1", data: { style: 1, "style.color": "red" } },
    (b, els) => b.update(els.doc("e1"), { style: 1 }),
    "a field inside it",
  ],
  [
    "an update with no fields",
    { type: "update", elementId: "e1", data: {} },
    (b, els) => b.update(els.doc("e1"), { touched: true }),
    "at least one field",
  ],
  [
    "an update path Firestore refuses",
    { type: "update", elementId: "e1", data: { "a..b": 1 } },
    (b, els) => b.update(els.doc("e1"), { a: { b: 1 } }),
    "empty segment",
  ],
  ["a create without data", { type: "create", elementId: "e3" }, (b, els) => b.set(els.doc("e3"), { made: true }), "data must be a map"],
  ["a delete with data", { type: "delete", elementId: "e1", data: { x: 1 } }, (b, els) => b.delete(els.doc("e1")), "data must be absent"],
  ["an elementId that is not a string", { type: "delete", elementId: 2 }, (b, els) => b.delete(els.doc("e2")), "elementId"],
  [
    "an index that skips one",
    { index: 3, type: "delete", elementId: "e2" },
    (b, els) => b.delete(els.doc("e2")),
    "expected 2 (a gap in the ops)",
  ],
  [
    "an index that is a string (invisible to the ops query)",
    { index: "2", type: "delete", elementId: "e2" },
    (b, els) => b.delete(els.doc("e2")),
    "the ops end at index 1",
  ],
];

it.each(OUTSIDE_THE_DEFINITION)("%s makes loadProject read the elements instead", async (_name, op, change, reason) => {
  await snapshotted("p");
  await appendRawOp(fs.db, "p", op, change);
  const logger = memoryLogger();
  expect((await loadProject(fs.db, "p", { logger })).elements).toEqual(await elementsOf(fs.db, "p"));
  expect(fallbacks(logger)).toEqual([expect.objectContaining({ reason: expect.stringContaining(reason) })]);
});

describe("property: loadProject equals the elements after random ops through the app's write path, with snapshots at random points", () => {
  const KEYS = ["x", "y", "style", "meta", "a.b", "é", "a"];
  const PATHS = ["x", "style.color", "style.width", "style", "meta.tags.first", "meta.tags", "a.b", "a", "new.deep.field", "é.ü", "a.b.c"];

  function value(rand: () => number, depth = 0): unknown {
    const r = rand();
    if (r < 0.2) return Math.floor(rand() * 100);
    if (r < 0.35) return `s${Math.floor(rand() * 10)}`;
    if (r < 0.45) return rand() < 0.5;
    if (r < 0.5) return null;
    if (r < 0.6) return Timestamp.fromMillis(1_700_000_000_000 + Math.floor(rand() * 1e9));
    if (r < 0.7) return [Math.floor(rand() * 5), `t${Math.floor(rand() * 5)}`];
    if (depth >= 3) return rand();
    return element(rand, depth + 1);
  }
  function element(rand: () => number, depth = 0): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const n = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < n; i++) out[KEYS[Math.floor(rand() * KEYS.length)]] = value(rand, depth);
    return out;
  }
  /** 1 to 3 update() paths, none a prefix of another (Firestore refuses those). */
  function update(rand: () => number): Record<string, unknown> {
    const chosen: string[] = [];
    const n = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < n; i++) {
      const path = PATHS[Math.floor(rand() * PATHS.length)];
      const clash = chosen.some((c) => c === path || c.startsWith(`${path}.`) || path.startsWith(`${c}.`));
      if (!clash) chosen.push(path);
    }
    return Object.fromEntries(chosen.map((p) => [p, value(rand, 1)]));
  }

  it.each([1, 2, 3, 4, 5, 6])("seed %i", async (seed) => {
    const rand = prng(seed);
    const id = `prop${seed}`;
    const logger = memoryLogger();
    await createProject(fs.db, id);
    const ids = ["el0", "el1", "el2", "el3", "el4"];
    const live = new Set<string>();
    let snapshots = 0;
    const check = async (n: number) => {
      const loaded = await readProject(fs.db, id, logger);
      expect({ seed, n, elements: loaded.elements }).toEqual({ seed, n, elements: await elementsOf(fs.db, id) });
      expect(loaded.opIndex).toBe(n);
      if (snapshots > 0) expect({ seed, n, source: loaded.source }).toEqual({ seed, n, source: "snapshot" });
    };
    for (let n = 0; n < 60; n++) {
      const elementId = ids[Math.floor(rand() * ids.length)];
      const r = rand();
      // Creates re-create existing elements too; update() needs an element that exists.
      const op: OpInput =
        !live.has(elementId) || r < 0.2
          ? { type: "create", elementId, data: element(rand) }
          : r < 0.85
            ? { type: "update", elementId, data: update(rand) }
            : { type: "delete", elementId };
      await appendOp(fs.db, id, op);
      if (op.type === "delete") live.delete(elementId);
      else live.add(elementId);
      if (rand() < 0.15) snapshots += (await processSnapshots(testDeps(fs.db), { projectId: id, force: true })).created.length;
      if (rand() < 0.3) await check(n);
    }
    await check(59);
    expect(snapshots).toBeGreaterThan(0);
    expect(fallbacks(logger)).toEqual([]);
  });
});

it("loadProject falls back to the elements collection when there is no snapshot, and refuses a missing project or a bad id", async () => {
  await createProject(fs.db, "fresh");
  await appendOp(fs.db, "fresh", { type: "create", elementId: "a", data: { x: 1 } });
  expect(await readProject(fs.db, "fresh", memoryLogger())).toEqual({ source: "elements", opIndex: 0, elements: { a: { x: 1 } } });
  await expect(loadProject(fs.db, "nope")).rejects.toThrow("canvas project nope does not exist");
  await expect(loadProject(fs.db, "a/b")).rejects.toThrow("projectId must be a document id");
});

it("a project whose snapshots fail loads from its last snapshot plus every op since, as the README says", async () => {
  await snapshotted("p");
  let deep: unknown = "leaf";
  for (let i = 0; i < 19; i++) deep = { n: deep };
  await appendOp(fs.db, "p", { type: "create", elementId: "deep", data: { deep } });
  for (let i = 0; i < 5; i++) await appendOp(fs.db, "p", { type: "update", elementId: "e2", data: { y: i } });
  expect((await snapshot("p")).failed).toEqual([expect.objectContaining({ permanent: true })]);
  const logger = memoryLogger();
  expect(await readProject(fs.db, "p", logger)).toEqual({ source: "snapshot", opIndex: 7, elements: await elementsOf(fs.db, "p") });
  expect(fallbacks(logger)).toEqual([]);
});
