import { mergeMediaFields, mergeMediaList } from "../../src/core/mirror/mediaMerge";

describe("smart merging of images/videos", () => {
  it("keeps optimization fields of items matched by id", () => {
    const existing = [{ id: "a", url: "u1", thumbnailUrl: "t1", avifUrl: "v1" }];
    const incoming = [{ id: "a", url: "u1-new" }];
    expect(mergeMediaList(existing, incoming)).toEqual([{ id: "a", url: "u1-new", thumbnailUrl: "t1", avifUrl: "v1" }]);
  });

  it("matches by storagePath before url: a file replaced at the same path keeps its optimized copies when only the URL token changed", () => {
    const existing = [{ url: "https://cdn/0.png?token=1", storagePath: "u/0.png", thumbnailUrl: "t", avifUrl: "a" }];
    expect(mergeMediaList(existing, [{ url: "https://cdn/0.png?token=2", storagePath: "u/0.png" }])).toEqual([
      { url: "https://cdn/0.png?token=2", storagePath: "u/0.png", thumbnailUrl: "t", avifUrl: "a" },
    ]);
    expect(mergeMediaList(existing, [{ url: "https://cdn/0.png?token=1", storagePath: "u/other.png" }])).toEqual([
      { url: "https://cdn/0.png?token=1", storagePath: "u/other.png" },
    ]);
  });

  it("matches by storagePath, then by url, when there is no id", () => {
    const existing = [
      { url: "u1", thumbnailUrl: "t1" },
      { storagePath: "p2", avifUrl: "v2" },
    ];
    const incoming = [{ url: "u1" }, { storagePath: "p2", url: "other" }];
    expect(mergeMediaList(existing, incoming)).toEqual([
      { url: "u1", thumbnailUrl: "t1" },
      { storagePath: "p2", url: "other", avifUrl: "v2" },
    ]);
  });

  it("lets an update set or clear an optimization field explicitly", () => {
    const existing = [{ id: "a", thumbnailUrl: "old", avifUrl: "keep" }];
    expect(mergeMediaList(existing, [{ id: "a", thumbnailUrl: "new" }])).toEqual([{ id: "a", thumbnailUrl: "new", avifUrl: "keep" }]);
    expect(mergeMediaList(existing, [{ id: "a", thumbnailUrl: null }])).toEqual([{ id: "a", thumbnailUrl: null, avifUrl: "keep" }]);
  });

  it("does not carry fields across different items, and drops items the update removed", () => {
    const existing = [
      { id: "a", thumbnailUrl: "ta" },
      { id: "b", thumbnailUrl: "tb" },
    ];
    expect(mergeMediaList(existing, [{ id: "c", url: "x" }])).toEqual([{ id: "c", url: "x" }]);
  });

  it("matches by id when both have ids, even if urls are equal", () => {
    const existing = [{ id: "a", url: "same", thumbnailUrl: "ta" }];
    expect(mergeMediaList(existing, [{ id: "b", url: "same" }])).toEqual([{ id: "b", url: "same" }]);
  });

  it("merges images and videos, and leaves other fields and non-arrays alone", () => {
    const existing = { images: [{ id: "i", avifUrl: "av" }], videos: [{ id: "v", thumbnailUrl: "vt" }], prompt: "old" };
    const out = mergeMediaFields(existing, { images: [{ id: "i" }], videos: [{ id: "v" }], prompt: "new" });
    expect(out).toEqual({ images: [{ id: "i", avifUrl: "av" }], videos: [{ id: "v", thumbnailUrl: "vt" }], prompt: "new" });
    expect(mergeMediaFields(existing, { images: "not-an-array" })).toEqual({ images: "not-an-array" });
    expect(mergeMediaFields(undefined, { images: [{ id: "i" }] })).toEqual({ images: [{ id: "i" }] });
  });
});

describe("smart merging of long lists", () => {
  /** The matching rule as a scan (each incoming item against each existing one, in order): what the index must agree with. */
  function byScan(existing: unknown[], incoming: unknown[]): unknown[] {
    const isItem = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
    const key = (item: Record<string, unknown>, name: string) =>
      typeof item[name] === "string" && item[name] !== "" ? item[name] : undefined;
    const same = (a: Record<string, unknown>, b: Record<string, unknown>) => {
      for (const name of ["id", "storagePath", "url"]) {
        const [x, y] = [key(a, name), key(b, name)];
        if (x !== undefined && y !== undefined) return x === y;
      }
      return false;
    };
    const previous = existing.filter(isItem);
    return incoming.map((item) => {
      if (!isItem(item)) return item;
      const match = previous.find((old) => same(item, old));
      if (!match) return item;
      const merged = { ...item };
      for (const f of ["thumbnailUrl", "avifUrl"]) if (!(f in item) && match[f] !== undefined) merged[f] = match[f];
      return merged;
    });
  }

  it("agrees with the item-by-item rule on every mix of ids, storage paths and urls", () => {
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(values: T[]) => values[Math.floor(random() * values.length)];
    const item = (i: number): unknown => {
      if (random() < 0.05) return pick([null, "x", 3, ["a"]]);
      const out: Record<string, unknown> = {};
      for (const name of ["id", "storagePath", "url"]) if (random() < 0.6) out[name] = pick(["a", "b", "c", "", 7]);
      if (random() < 0.5) out.thumbnailUrl = `t${i}`;
      if (random() < 0.3) out.avifUrl = pick([`v${i}`, null]);
      return out;
    };
    for (let round = 0; round < 3_000; round++) {
      const existing = Array.from({ length: Math.floor(random() * 8) }, (_, i) => item(i));
      const incoming = Array.from({ length: Math.floor(random() * 8) }, (_, i) => item(100 + i));
      expect(mergeMediaList(existing, incoming)).toEqual(byScan(existing, incoming));
    }
  });

  it("does work that grows with the lists, not with their product: a source of thousands of images cannot stall the worker", () => {
    const n = 3_000;
    let reads = 0;
    const counted = (item: Record<string, unknown>) =>
      new Proxy(item, {
        get(target, prop, receiver) {
          reads++;
          return Reflect.get(target, prop, receiver);
        },
      });
    const existing = Array.from({ length: n }, (_, i) => counted({ id: `i${i}`, thumbnailUrl: `t${i}` }));
    // In reverse order: a scan per item would read about n * n / 2 existing items.
    const incoming = Array.from({ length: n }, (_, i) => ({ id: `i${n - 1 - i}` }));
    const merged = mergeMediaList(existing, incoming) as Record<string, unknown>[];
    expect(merged[0]).toEqual({ id: `i${n - 1}`, thumbnailUrl: `t${n - 1}` });
    expect(merged[n - 1]).toEqual({ id: "i0", thumbnailUrl: "t0" });
    expect(reads).toBeLessThan(20 * n);
  });
});
