import { Timestamp } from "firebase-admin/firestore";
import { applyOps, firestoreSize, needsSnapshot, snapshotIdFor, splitElements } from "../../src/core/snapshots/rules";

const H = 3600_000;
const now = 1_800_000_000_000;

describe("needsSnapshot", () => {
  it.each([
    [{ opsSinceSnapshot: 99, lastSnapshotAt: Timestamp.fromMillis(now - H) }, false],
    [{ opsSinceSnapshot: 100, lastSnapshotAt: Timestamp.fromMillis(now - H) }, true],
    [{ opsSinceSnapshot: 1, lastSnapshotAt: Timestamp.fromMillis(now - 24 * H + 1) }, false],
    [{ opsSinceSnapshot: 1, lastSnapshotAt: Timestamp.fromMillis(now - 24 * H) }, true],
    [{ opsSinceSnapshot: 0, lastSnapshotAt: Timestamp.fromMillis(now - 100 * H) }, false],
    [{ opsSinceSnapshot: 1 }, true],
    [{ opsSinceSnapshot: 0 }, false],
    [{}, false],
  ])("%j → %s", (project, due) => {
    expect(needsSnapshot(project, now, 100, 24)).toBe(due);
  });
});

describe("snapshot ids", () => {
  it("sort by op index", () => {
    const ids = [0, 9, 10, 99, 12345].map(snapshotIdFor);
    expect([...ids].sort()).toEqual(ids);
  });
});

describe("firestoreSize and splitElements", () => {
  it("counts by Firestore's rules", () => {
    expect(firestoreSize("abc")).toBe(4);
    expect(firestoreSize({ a: 1, bb: true, c: null })).toBe(2 + 8 + 3 + 1 + 2 + 1);
    expect(firestoreSize([1, "é"])).toBe(8 + 3);
  });
  it("splits into parts under the limit without losing or duplicating an element", () => {
    const elements = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`e${i}`, { text: "x".repeat(100 + i) }]));
    const parts = splitElements(elements, 1000);
    expect(parts.length).toBeGreaterThan(5);
    for (const part of parts) expect(firestoreSize(part)).toBeLessThanOrEqual(1000);
    expect(Object.assign({}, ...parts)).toEqual(elements);
  });
  it("refuses an element larger than a part", () => {
    expect(() => splitElements({ big: { t: "x".repeat(2000) } }, 1000)).toThrow("element big alone is");
  });
});

describe("applyOps", () => {
  it("creates, merges updates and deletes, in index order whatever the input order", () => {
    const out = applyOps({ a: { x: 1, y: 1 } }, [
      { index: 3, type: "delete", elementId: "b" },
      { index: 1, type: "update", elementId: "a", data: { y: 2 } },
      { index: 2, type: "create", elementId: "b", data: { z: 1 } },
      { index: 4, type: "create", elementId: "c", data: { w: 1 } },
    ]);
    expect(out).toEqual({ a: { x: 1, y: 2 }, c: { w: 1 } });
  });
});
