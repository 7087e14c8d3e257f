import { Timestamp } from "firebase-admin/firestore";
import { nextPollDelayMs, retryDelayMs } from "../../src/core/mirror/backoff";
import { decideClaim } from "../../src/core/mirror/claim";
import { planMirrorWrite, type PlanInput } from "../../src/core/mirror/plan";
import { parseMirrorTask, type MirrorTask } from "../../src/core/mirror/task";

const t = (ms: number) => Timestamp.fromMillis(ms);
const upsert = (createdAt: number, snapshot?: Record<string, unknown>): MirrorTask => ({ op: "upsert", uid: "u", historyId: "h", createdAt: t(createdAt), snapshot });
const publicItem = { uid: "u", prompt: "p", isPublic: true, isDeleted: false };

describe("parseMirrorTask", () => {
  it("accepts each op with its fields", () => {
    expect(parseMirrorTask({ op: "upsert", uid: "u", historyId: "h", createdAt: t(1) }).ok).toBe(true);
    expect(parseMirrorTask({ op: "update", uid: "u", historyId: "h", createdAt: t(1), updates: { prompt: "x" } }).ok).toBe(true);
    expect(parseMirrorTask({ op: "remove", uid: "u", historyId: "h", createdAt: t(1), status: "pending", attempts: 2 }).ok).toBe(true);
  });

  it.each([
    [{ op: "explode", uid: "u", historyId: "h", createdAt: t(1) }, 'op must be "upsert", "update" or "remove"'],
    [{ op: "upsert", historyId: "h", createdAt: t(1) }, "uid"],
    [{ op: "upsert", uid: "a/b", historyId: "h", createdAt: t(1) }, 'uid: uid must be a document id (no "/")'],
    [{ op: "upsert", uid: "u", historyId: "h" }, "createdAt: createdAt must be a Firestore Timestamp"],
    [{ op: "update", uid: "u", historyId: "h", createdAt: t(1) }, "updates"],
    [{ op: "update", uid: "u", historyId: "h", createdAt: t(1), updates: {} }, "updates must not be empty"],
    [{ op: "upsert", uid: "u", historyId: "h", createdAt: t(1), snapshot: "nope" }, "snapshot"],
  ])("rejects %j naming the problem", (data, message) => {
    const parsed = parseMirrorTask(data);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toContain(message);
  });
});

describe("decideClaim", () => {
  const now = 1_000_000;
  it("claims new, pending, retry-due and lease-expired tasks", () => {
    expect(decideClaim({}, now, 5)).toEqual({ kind: "claim" });
    expect(decideClaim({ status: "pending", attempts: 0 }, now, 5)).toEqual({ kind: "claim" });
    expect(decideClaim({ status: "failed", attempts: 2, nextAttemptAt: t(now) }, now, 5)).toEqual({ kind: "claim" });
    expect(decideClaim({ status: "processing", attempts: 1, leaseExpiresAt: t(now - 1) }, now, 5)).toEqual({ kind: "claim" });
  });
  it("skips done, leased, not-yet-due and dead-letter tasks", () => {
    expect(decideClaim({ status: "done" }, now, 5)).toEqual({ kind: "skip", reason: "done" });
    expect(decideClaim({ status: "processing", attempts: 1, leaseExpiresAt: t(now + 1) }, now, 5)).toEqual({ kind: "skip", reason: "leased" });
    expect(decideClaim({ status: "failed", attempts: 1, nextAttemptAt: t(now + 1) }, now, 5)).toEqual({ kind: "skip", reason: "not-due" });
    expect(decideClaim({ status: "failed", attempts: 5 }, now, 5)).toEqual({ kind: "skip", reason: "dead-letter" });
    expect(decideClaim({ status: "failed", attempts: 1, deadLetter: true }, now, 5)).toEqual({ kind: "skip", reason: "dead-letter" });
  });
  it("turns a task whose lease ran out on its last attempt into a dead letter", () => {
    const d = decideClaim({ status: "processing", attempts: 5, leaseExpiresAt: t(now - 1) }, now, 5);
    expect(d.kind).toBe("exhausted");
  });
});

describe("planMirrorWrite", () => {
  const base = (over: Partial<PlanInput>): PlanInput => ({ taskId: "T", task: upsert(100), ...over });

  it("publishes a public item with createdBy from the user profile", () => {
    const plan = planMirrorWrite(base({ source: publicItem, user: { username: "al", displayName: "Al", photoURL: "p.png" } }));
    expect(plan.kind).toBe("write");
    expect(plan.kind === "write" && plan.data).toMatchObject({
      prompt: "p",
      uid: "u",
      historyId: "h",
      createdBy: { uid: "u", username: "al", displayName: "Al", photoURL: "p.png" },
      mirrorTaskId: "T",
    });
  });

  it("prefers the item's own createdBy", () => {
    const createdBy = { uid: "u", username: "own", displayName: "Own", photoURL: null };
    const plan = planMirrorWrite(base({ task: upsert(100, { ...publicItem, createdBy }), source: publicItem, user: { username: "x" } }));
    expect(plan.kind === "write" && plan.data.createdBy).toEqual(createdBy);
  });

  it.each([
    ["missing", undefined],
    ["deleted", { ...publicItem, isDeleted: true }],
    ["private", { ...publicItem, isPublic: false }],
  ])("never publishes a %s source item, whatever the snapshot says", (_label, source) => {
    expect(planMirrorWrite(base({ task: upsert(100, publicItem), source }))).toEqual({ kind: "remove", outcome: "unpublished" });
  });

  it("does not publish a snapshot that itself says deleted", () => {
    expect(planMirrorWrite(base({ task: upsert(100, { ...publicItem, isDeleted: true }), source: publicItem }))).toEqual({ kind: "remove", outcome: "unpublished" });
  });

  it("skips a task older than the one applied last, whether the doc is mirrored or removed", () => {
    expect(planMirrorWrite(base({ task: upsert(99), source: publicItem, mirror: { prompt: "p" }, state: { taskCreatedAt: t(100) } }))).toEqual({ kind: "skip", outcome: "stale" });
    expect(planMirrorWrite(base({ task: upsert(99), source: publicItem, state: { taskCreatedAt: t(100), removed: true } }))).toEqual({ kind: "skip", outcome: "stale" });
    expect(planMirrorWrite(base({ task: upsert(100), source: publicItem, state: { taskCreatedAt: t(100) } })).kind).toBe("write");
  });

  it("updates only what is mirrored, and removes what an update makes private or deleted", () => {
    const update = (updates: Record<string, unknown>): MirrorTask => ({ op: "update", uid: "u", historyId: "h", createdAt: t(100), updates });
    expect(planMirrorWrite(base({ task: update({ prompt: "x" }) }))).toEqual({ kind: "skip", outcome: "not-mirrored" });
    const mirror = { prompt: "old", images: [{ id: "i", thumbnailUrl: "th" }] };
    const plan = planMirrorWrite(base({ task: update({ prompt: "x", images: [{ id: "i", url: "new" }] }), mirror }));
    expect(plan.kind === "write" && plan.data).toMatchObject({ prompt: "x", images: [{ id: "i", url: "new", thumbnailUrl: "th" }] });
    expect(planMirrorWrite(base({ task: update({ isPublic: false }), mirror }))).toEqual({ kind: "remove", outcome: "removed" });
    expect(planMirrorWrite(base({ task: update({ isDeleted: true }), mirror }))).toEqual({ kind: "remove", outcome: "removed" });
  });
});

describe("backoff", () => {
  it("doubles the retry delay per attempt within ±20 % jitter, capped", () => {
    expect(retryDelayMs(1, () => 0.5)).toBe(10_000);
    expect(retryDelayMs(2, () => 0.5)).toBe(20_000);
    expect(retryDelayMs(3, () => 0)).toBe(32_000);
    expect(retryDelayMs(30, () => 1)).toBe(15 * 60_000 * 1.2);
  });
  it("backs the poll off while empty up to the max, and snaps back when work appears", () => {
    let d = 2500;
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) seen.push((d = nextPollDelayMs(d, false, 2500, 15000)));
    expect(seen).toEqual([5000, 10000, 15000, 15000, 15000]);
    expect(nextPollDelayMs(15000, true, 2500, 15000)).toBe(2500);
  });
});
