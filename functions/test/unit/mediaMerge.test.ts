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
