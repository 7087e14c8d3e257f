import { Timestamp } from "firebase-admin/firestore";
import { PermanentError } from "../../src/core/errors";
import { planProject, readProjectView, retryDelayMs, type FailureView } from "../../src/core/snapshots/due";
import { applyOps, applyUpdate, parseFieldPath, parseOp, replayOps } from "../../src/core/snapshots/ops";
import { checkSnapshottable, firestoreSize, nestingDepth, splitElements } from "../../src/core/snapshots/sizes";
import { snapshotIdFor } from "../../src/core/snapshots/snapshotProject";

const H = 3600_000;
const now = 1_800_000_000_000;
const ts = (ms: number) => Timestamp.fromMillis(ms);
const rule = { maxOps: 100, maxHours: 24 };
const plan = (doc: Record<string, unknown>, force = false, failure?: FailureView) =>
  planProject(readProjectView(doc), now, rule, { force, failure });

describe("planProject: when a project is due", () => {
  it.each([
    ["99 new ops, snapshot 1 h old", { opIndex: 98, opsSinceSnapshot: 99, lastSnapshotAt: ts(now - H) }, "none"],
    ["100 new ops", { opIndex: 99, opsSinceSnapshot: 100, lastSnapshotAt: ts(now - H) }, "snapshot"],
    [
      "1 new op, snapshot just under 24 h old",
      { opIndex: 5, lastSnapshotOpIndex: 4, opsSinceSnapshot: 1, lastSnapshotAt: ts(now - 24 * H + 1) },
      "none",
    ],
    [
      "1 new op, snapshot 24 h old",
      { opIndex: 5, lastSnapshotOpIndex: 4, opsSinceSnapshot: 1, lastSnapshotAt: ts(now - 24 * H) },
      "snapshot",
    ],
    ["no ops, old snapshot", { opIndex: 4, lastSnapshotOpIndex: 4, opsSinceSnapshot: 0, lastSnapshotAt: ts(now - 100 * H) }, "none"],
    ["ops, never snapshotted", { opIndex: 0, opsSinceSnapshot: 1 }, "snapshot"],
    ["no ops at all", { opIndex: -1, opsSinceSnapshot: 0 }, "none"],
    ["an empty doc", {}, "none"],
  ])("%s → %s", (_name, doc, kind) => {
    expect(plan(doc).kind).toBe(kind);
  });

  it("trusts opIndex - lastSnapshotOpIndex, not the owner-writable counter, and repairs the counter", () => {
    expect(plan({ opIndex: 4, lastSnapshotOpIndex: 4, opsSinceSnapshot: 1_000_000, lastSnapshotAt: ts(now - H) })).toEqual({
      kind: "repair",
      opsSinceSnapshot: 0,
    });
    expect(plan({ opIndex: -1, opsSinceSnapshot: 500 })).toEqual({ kind: "repair", opsSinceSnapshot: 0 });
    expect(plan({ opIndex: 10, lastSnapshotOpIndex: 7, opsSinceSnapshot: 100, lastSnapshotAt: ts(now - H) })).toEqual({
      kind: "repair",
      opsSinceSnapshot: 3,
    });
    expect(plan({ opIndex: 150, lastSnapshotOpIndex: 0, opsSinceSnapshot: 0, lastSnapshotAt: ts(now - H) })).toEqual({ kind: "snapshot" });
    expect(plan({ opIndex: 2, lastSnapshotOpIndex: 2, opsSinceSnapshot: -5 })).toEqual({ kind: "repair", opsSinceSnapshot: 0 });
    for (const lie of [Infinity, -Infinity, NaN, "0", null]) {
      expect(plan({ opIndex: 2, lastSnapshotOpIndex: 2, opsSinceSnapshot: lie, lastSnapshotAt: ts(now - H) })).toEqual({
        kind: "repair",
        opsSinceSnapshot: 0,
      });
      expect(plan({ opIndex: 3, lastSnapshotOpIndex: 2, opsSinceSnapshot: lie, lastSnapshotAt: ts(now - H) })).toEqual({
        kind: "repair",
        opsSinceSnapshot: 1,
      });
    }
    expect(plan({ opIndex: 2, lastSnapshotOpIndex: 2, lastSnapshotAt: ts(now - H) })).toEqual({ kind: "none" });
  });

  it("refuses an opIndex that is not an integer >= -1, naming the field", () => {
    for (const opIndex of ["7", 1.5, -2, null, { n: 1 }]) {
      const p = plan({ opIndex, opsSinceSnapshot: 200 });
      expect(p.kind).toBe("invalid");
      expect(p.kind === "invalid" && p.error).toEqual(expect.objectContaining({ field: "opIndex" }));
      expect(p.kind === "invalid" && p.error).toBeInstanceOf(PermanentError);
    }
  });

  it("waits for its place or its failure's retry, whichever is later, unless the project changed since it failed, or the run is forced", () => {
    const failure = (opIndex: number, retryAt: number): FailureView => ({ attempts: 1, opIndex, retryAt });
    const project = (opIndex: number, checkAfter: number) => ({
      opIndex,
      opsSinceSnapshot: opIndex + 1,
      snapshotCheckAfter: ts(checkAfter),
    });
    expect(plan(project(3, now + H), false, failure(3, now + H))).toEqual({ kind: "wait", untilMs: now + H });
    expect(plan(project(4, now + H), false, failure(3, now + H))).toEqual({ kind: "snapshot" });
    expect(plan(project(3, now + H), true, failure(3, now + H))).toEqual({ kind: "snapshot" });
    // Claimed by another run: its record has the project's opIndex.
    expect(plan(project(4, now + 2 * H), false, failure(4, now + 2 * H))).toEqual({ kind: "wait", untilMs: now + 2 * H });
    // A place the doc did not take: the record's retry counts.
    expect(plan(project(3, now - 1), false, failure(3, now + H))).toEqual({ kind: "wait", untilMs: now + H });
    expect(plan(project(3, now - 1), false, failure(3, now - 1))).toEqual({ kind: "snapshot" });
    expect(plan({ opIndex: 3, opsSinceSnapshot: 4 }, false, failure(3, now + H))).toEqual({ kind: "wait", untilMs: now + H });
  });

  it("backs off 1 h, doubling, at most 7 days", () => {
    expect([1, 2, 3, 4, 8, 9, 50].map(retryDelayMs)).toEqual([H, 2 * H, 4 * H, 8 * H, 128 * H, 168 * H, 168 * H]);
  });
});

describe("snapshot ids", () => {
  it("sort by op index", () => {
    const ids = [0, 9, 10, 99, 12345].map(snapshotIdFor);
    expect([...ids].sort()).toEqual(ids);
  });
});

describe("sizes", () => {
  it("counts by Firestore's rules", () => {
    expect(firestoreSize("abc")).toBe(4);
    expect(firestoreSize({ a: 1, bb: true, c: null })).toBe(2 + 8 + 3 + 1 + 2 + 1);
    expect(firestoreSize([1, "é"])).toBe(8 + 3);
  });
  it("measures nesting as the Admin SDK does: a top-level value is depth 0, each map or array a level", () => {
    expect(nestingDepth({ a: 1 })).toBe(0);
    expect(nestingDepth({ a: { b: [1, { c: 2 }] } })).toBe(3);
    expect(nestingDepth({ t: Timestamp.now() })).toBe(0);
  });
  it("splits into parts under the limit without losing or duplicating an element", () => {
    const elements = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`e${i}`, { text: "x".repeat(100 + i) }]));
    const parts = splitElements(elements, 1000);
    expect(parts.length).toBeGreaterThan(5);
    for (const part of parts) expect(firestoreSize(part)).toBeLessThanOrEqual(1000);
    expect(Object.assign({}, ...parts)).toEqual(elements);
  });
  it("refuses, permanently and naming it, an element larger than a part or nested too deep once wrapped", () => {
    expect(() => splitElements({ big: { t: "x".repeat(2000) } }, 1000)).toThrow("element big alone is");
    let deep: unknown = 1;
    for (let i = 0; i < 19; i++) deep = { n: deep };
    expect(nestingDepth({ deep })).toBe(19);
    const check = () => checkSnapshottable({ d: { deep } as Record<string, unknown> });
    expect(check).toThrow(PermanentError);
    expect(check).toThrow(
      expect.objectContaining({ field: "elements/d", message: expect.stringContaining("inside a snapshot it would be 21") }),
    );
    expect(() => checkSnapshottable({ ok: { deep: (deep as { n: unknown }).n } as Record<string, unknown> })).not.toThrow();
  });
});

describe("the op definition", () => {
  it("update() reads keys as dot-separated paths, replaces values whole, creates or replaces intermediates", () => {
    const element = { style: { color: "blue", width: 2 }, "style.color": "literal", n: 5, arr: [1] };
    expect(applyUpdate(element, { "style.color": "red", "n.x": 1, "arr.0": 9, "new.deep.f": true, meta: { a: 1 } })).toEqual({
      ok: true,
      value: {
        style: { color: "red", width: 2 },
        "style.color": "literal",
        n: { x: 1 },
        arr: { "0": 9 },
        new: { deep: { f: true } },
        meta: { a: 1 },
      },
    });
    expect(applyUpdate({ style: { color: "blue", width: 2 } }, { style: { color: "red" } })).toEqual({
      ok: true,
      value: { style: { color: "red" } },
    });
    expect(element.style).toEqual({ color: "blue", width: 2 });
  });

  it.each([
    ["a..b", "empty segment"],
    [".a", "empty segment"],
    ["a~b", "segment Firestore refuses"],
    ["a.__x__", "segment Firestore refuses"],
    ["x".repeat(1500), "1500"],
  ])("refuses the path %s", (path, why) => {
    const parsed = parseFieldPath(path);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toContain(why);
  });

  it("refuses an update that sets a field and a field inside it", () => {
    expect(applyUpdate({}, { a: 1, "a.b": 2 })).toEqual({
      ok: false,
      error: expect.stringContaining("sets field a and a field inside it"),
    });
    expect(applyUpdate({}, { "a.b": 1, "a.bc": 2 }).ok).toBe(true);
  });

  it.each([
    [{ index: 0, type: "remove", elementId: "e" }, "type must be"],
    [{ index: 0, elementId: "e", data: {} }, "type must be"],
    [{ index: "0", type: "delete", elementId: "e" }, "index"],
    [{ index: 0, type: "delete", elementId: "a/b" }, "elementId"],
    [{ index: 0, type: "delete", elementId: "__x__" }, "elementId"],
    [{ index: 0, type: "delete", elementId: "e", data: { x: 1 } }, "data must be absent"],
    [{ index: 0, type: "create", elementId: "e" }, "data must be a map"],
    [{ index: 0, type: "update", elementId: "e", data: "x" }, "data must be a map"],
    [{ index: 0, type: "update", elementId: "e", data: {} }, "at least one field"],
    [{ index: 0, type: "create", elementId: "e", data: { a: { __y__: 1 } } }, "field name Firestore refuses"],
    [{ index: 0, type: "update", elementId: "e", data: { a: { "": 1 } } }, "field name Firestore refuses"],
  ])("refuses %j", (raw, why) => {
    const parsed = parseOp(raw);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toContain(why);
  });

  it("replays creates (replacing), updates and deletes in order; refuses a gap and an update of a missing element", () => {
    const ops = [
      { index: 3, type: "update", elementId: "a", data: { "s.c": 2 } },
      { index: 4, type: "create", elementId: "a", data: { fresh: true } },
      { index: 5, type: "delete", elementId: "b" },
      { index: 6, type: "delete", elementId: "never-was" },
    ];
    const raw = ops.map((data, i) => ({ id: `o${i}`, data }));
    expect(replayOps({ a: { s: { c: 1, d: 1 } }, b: { x: 1 } }, 2, raw)).toEqual({
      ok: true,
      opIndex: 6,
      elements: { a: { fresh: true } },
    });
    expect(replayOps({}, 1, raw)).toEqual({ ok: false, reason: expect.stringContaining("expected 2 (a gap in the ops)") });
    expect(replayOps({}, 2, raw)).toEqual({ ok: false, reason: expect.stringContaining("update of element a, which does not exist") });
  });

  it("applyOps applies typed ops in index order and throws on one the definition refuses", () => {
    expect(
      applyOps({ a: { x: 1, y: 1 } }, [
        { index: 3, type: "delete", elementId: "b" },
        { index: 1, type: "update", elementId: "a", data: { y: 2 } },
        { index: 2, type: "create", elementId: "b", data: { z: 1 } },
        { index: 4, type: "create", elementId: "c", data: { w: 1 } },
      ]),
    ).toEqual({ a: { x: 1, y: 2 }, c: { w: 1 } });
    expect(() => applyOps({}, [{ index: 0, type: "update", elementId: "a", data: { x: 1 } }])).toThrow("does not exist");
  });
});
