import { Timestamp } from "firebase-admin/firestore";
import { differingFields, isFixable, judgeItem, judgeNeedsProfile, type Verdict } from "../../src/core/mirror/drift";
import { planMirrorWrite } from "../../src/core/mirror/plan";
import type { Doc } from "../../src/core/mirror/publicFields";

/** The in-sync rule of the backfill and verify (drift.ts), pure: what counts as drift, and that it agrees with the queue's own upsert. */
const t = (ms: number) => Timestamp.fromMillis(ms);
const user = { username: "ana", displayName: "Ana", photoURL: "https://p/ana.png", secret: "never copied" };
const source = (over: Doc = {}): Doc => ({
  uid: "ana",
  prompt: "a lighthouse",
  model: "flux",
  generationType: "image",
  images: [{ id: "i0", url: "https://cdn/0.png", storagePath: "u/ana/0.png" }],
  videos: [],
  isPublic: true,
  isDeleted: false,
  aestheticScore: 7.5,
  createdAt: t(1_700_000_000_000),
  updatedAt: t(1_700_000_100_000),
  privateNote: "not a public field",
  ...over,
});

/** The mirror doc the queue's upsert writes for `src` over `mirror`: planMirrorWrite's own output. */
function upserted(src: Doc | undefined, mirror?: Doc, ...profile: [Doc?]): Doc | undefined {
  const plan = planMirrorWrite({
    taskId: "T1",
    task: { op: "upsert", uid: "ana", historyId: "h1", createdAt: t(1_800_000_000_000) },
    source: src,
    mirror,
    user: profile.length ? profile[0] : user,
  });
  return plan.change.kind === "set" ? plan.change.data : undefined;
}

/** Judges `src` against `mirror`, with users/ana as `profile` says (absent: the profile above). */
const judge = (src: Doc, mirror: Doc | undefined, ...profile: [Doc?]): Verdict =>
  judgeItem({ uid: "ana", historyId: "h1", source: src, mirror, user: profile.length ? profile[0] : user });

describe("what the queue's upsert writes is in sync", () => {
  it.each([
    ["a plain public item", source()],
    [
      "an item with fields of the wrong type (left out of the mirror)",
      source({ prompt: 42, aestheticScore: "high", images: [{ id: "i0", url: 5 }] }),
    ],
    ["an item without optional fields", source({ aestheticScore: undefined, videos: undefined })],
    ["an item whose isDeleted is absent", source({ isDeleted: undefined })],
  ])("%s", (_name, src) => {
    const clean = Object.fromEntries(Object.entries(src).filter(([, v]) => v !== undefined));
    const mirror = upserted(clean)!;
    expect(judge(clean, mirror)).toEqual({ kind: "in-sync" });
  });

  it("a mirror holding optimization fields the source lacks (smart merge) is in sync, as an upsert keeps them", () => {
    const first = upserted(source())!;
    const optimized = {
      ...first,
      images: [{ ...(first.images as Doc[])[0], thumbnailUrl: "https://cdn/0-thumb.png", avifUrl: "https://cdn/0.avif" }],
    };
    expect(judge(source(), optimized)).toEqual({ kind: "in-sync" });
    // and the queue agrees: an upsert over it writes the same public fields
    expect(differingFields(upserted(source(), optimized)!, optimized)).toEqual([]);
  });

  it("bookkeeping (which task wrote it, when) never counts", () => {
    const mirror = { ...upserted(source())!, mirrorTaskId: "other", mirrorTaskCreatedAt: t(1), mirroredAt: t(2) };
    expect(judge(source(), mirror)).toEqual({ kind: "in-sync" });
  });
});

describe("drift", () => {
  const mirror = () => upserted(source())!;

  it("a public item without a mirror doc is missing", () => {
    expect(judge(source(), undefined)).toEqual({ kind: "missing" });
  });

  it("names each field that differs, is missing or is extra", () => {
    expect(judge(source(), { ...mirror(), prompt: "edited" })).toEqual({ kind: "differs", fields: ["prompt"] });
    const { aestheticScore: _gone, ...withoutScore } = mirror();
    expect(judge(source(), withoutScore)).toEqual({ kind: "differs", fields: ["aestheticScore"] });
    expect(judge(source(), { ...mirror(), privateNote: "leaked", extra: 1 })).toEqual({
      kind: "differs",
      fields: ["extra", "privateNote"],
    });
    expect(judge(source({ aestheticScore: undefined }), mirror())).toEqual({ kind: "differs", fields: ["aestheticScore"] });
    expect(judge(source(), { ...mirror(), createdAt: t(5) })).toEqual({ kind: "differs", fields: ["createdAt"] });
  });

  it("a mirror image that lost its url, or a flag written wrong, differs", () => {
    expect(judge(source(), { ...mirror(), images: [{ id: "i0" }] })).toEqual({ kind: "differs", fields: ["images"] });
    expect(judge(source(), { ...mirror(), isPublic: "true" })).toEqual({ kind: "differs", fields: ["isPublic"] });
  });

  it("createdBy follows users/{uid}: a renamed user, or a profile that is gone, differs", () => {
    expect(judge(source(), mirror(), { ...user, displayName: "Ana B." })).toEqual({ kind: "differs", fields: ["createdBy"] });
    expect(judge(source(), mirror(), undefined)).toEqual({ kind: "differs", fields: ["createdBy"] });
    expect(judge(source(), upserted(source(), undefined, undefined), undefined)).toEqual({ kind: "in-sync" });
  });

  it("a mirror doc whose uid is not a string is unowned: no task may rewrite it (the queue refuses)", () => {
    expect(judge(source(), { ...mirror(), uid: 7 })).toEqual({ kind: "unowned" });
    expect(judge(source({ isPublic: false }), { ...mirror(), uid: undefined })).toEqual({ kind: "unowned" });
  });

  it.each([
    ["empty", ""],
    ["a path", "ana/x"],
    ["reserved", "__ana__"],
    ["longer than 1,500 bytes", "a".repeat(1501)],
  ])(
    "a mirror doc whose uid is a string but no usable id (%s) is unowned too, whatever its item says: no task can own it",
    (_name, uid) => {
      expect(judge(source(), { ...mirror(), uid })).toEqual({ kind: "unowned" });
      expect(judge(source({ isPublic: false }), { ...mirror(), uid })).toEqual({ kind: "unowned" });
      expect(judge(source({ isDeleted: true }), { ...mirror(), uid })).toEqual({ kind: "unowned" });
    },
  );

  it.each([
    [{ isPublic: false }, "sourcePrivate"],
    [{ isPublic: "true" }, "sourcePrivate"],
    [{ isPublic: undefined }, "sourcePrivate"],
    [{ isDeleted: true }, "sourceDeleted"],
    [{ isPublic: false, isDeleted: true }, "sourceDeleted"],
    [{ isDeleted: "no" }, "sourcePrivate"],
  ])("a mirrored item with %j is %s, and fixable; without a mirror doc it is not-public", (over, kind) => {
    expect(judge(source(over), mirror())).toEqual({ kind });
    expect(isFixable({ kind } as Verdict)).toBe(true);
    expect(judge(source(over), undefined)).toEqual({ kind: "not-public" });
    // the queue agrees: its upsert writes no mirror doc for such an item
    expect(upserted(source(over), mirror())).toBeUndefined();
  });

  it("a mirror doc owned by another user is a conflict, not fixable (the queue refuses to touch it)", () => {
    const verdict = judge(source(), { ...mirror(), uid: "bob" });
    expect(verdict).toEqual({ kind: "conflict", owner: "bob" });
    expect(isFixable(verdict)).toBe(false);
    expect(() => upserted(source(), { ...mirror(), uid: "bob" })).toThrow(/does not own/);
  });
});

describe("judgeNeedsProfile", () => {
  it("reads users/{uid} only for a public item mirrored under its own uid", () => {
    expect(judgeNeedsProfile("ana", source(), { uid: "ana" })).toBe(true);
    expect(judgeNeedsProfile("ana", source(), { uid: 3 })).toBe(false);
    expect(judgeNeedsProfile("ana", source(), undefined)).toBe(false);
    expect(judgeNeedsProfile("ana", source({ isPublic: false }), { uid: "ana" })).toBe(false);
    expect(judgeNeedsProfile("ana", source(), { uid: "bob" })).toBe(false);
  });
});
