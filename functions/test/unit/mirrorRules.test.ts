import { Timestamp } from "firebase-admin/firestore";
import { PermanentError } from "../../src/core/errors";
import { nextPollDelayMs, paceAfterPoll, retryDelayMs, type PollPace } from "../../src/core/mirror/backoff";
import { decideClaim, plausibleUntil } from "../../src/core/mirror/claim";
import { compareOrder } from "../../src/core/mirror/ordering";
import { planMirrorWrite, type PlanInput } from "../../src/core/mirror/plan";
import { asTimestamp, parsePublicUpdates, publicProjection } from "../../src/core/mirror/publicFields";
import { needsAudit } from "../../src/core/mirror/queueAudit";
import { MAX_ERROR_CHARS, parseMirrorTask, parseTaskKey, readTaskState, type MirrorTask, type TaskState } from "../../src/core/mirror/task";
import { followMirror } from "../../src/core/signupCache/cacheEntries";

const t = (ms: number) => Timestamp.fromMillis(ms);
const NOW = 1_800_000_000_000;
const upsert = (createdAt: number): MirrorTask => ({ op: "upsert", uid: "u", historyId: "h", createdAt: t(createdAt) });
const update = (createdAt: number, updates: Record<string, unknown>): MirrorTask => {
  const parsed = parsePublicUpdates(updates);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return { op: "update", uid: "u", historyId: "h", createdAt: t(createdAt), updates: parsed.value };
};
const remove = (createdAt: number): MirrorTask => ({ op: "remove", uid: "u", historyId: "h", createdAt: t(createdAt) });
const publicItem = { uid: "u", prompt: "p", isPublic: true, isDeleted: false };
const mark = (ms: number, taskId = "M") => ({ mirrorTaskCreatedAt: t(ms), mirrorTaskId: taskId });

describe("parseMirrorTask", () => {
  it("accepts each op with its fields", () => {
    expect(parseMirrorTask({ op: "upsert", uid: "u", historyId: "h", createdAt: t(1) }, NOW).ok).toBe(true);
    expect(parseMirrorTask({ op: "update", uid: "u", historyId: "h", createdAt: t(1), updates: { prompt: "x" } }, NOW).ok).toBe(true);
    expect(parseMirrorTask({ op: "remove", uid: "u", historyId: "h", createdAt: t(1), status: "pending", attempts: 2 }, NOW).ok).toBe(true);
  });

  it.each([
    [{ op: "explode", uid: "u", historyId: "h", createdAt: t(1) }, 'op must be "upsert", "update" or "remove"'],
    [{ op: "upsert", historyId: "h", createdAt: t(1) }, "uid: uid must be a string"],
    [{ op: "upsert", uid: "a/b", historyId: "h", createdAt: t(1) }, 'uid: uid must be a document id (no "/", not "." or "..")'],
    [{ op: "upsert", uid: "u", historyId: "h" }, "createdAt: createdAt must be a Firestore Timestamp, got nothing"],
    [
      { op: "upsert", uid: "u", historyId: "h", createdAt: t(NOW + 61_000) },
      "createdAt: createdAt is 61 s ahead of the time Firestore created the task (at most 60 s allowed)",
    ],
    [{ op: "update", uid: "u", historyId: "h", createdAt: t(1) }, "updates"],
    [{ op: "update", uid: "u", historyId: "h", createdAt: t(1), updates: {} }, "updates must not be empty"],
    [
      { op: "update", uid: "u", historyId: "h", createdAt: t(1), updates: { uid: "x" } },
      "updates.uid: is set by the workers; an update may not change it",
    ],
    [{ op: "upsert", uid: "u", historyId: "h", createdAt: t(1), snapshot: "nope" }, "snapshot"],
  ])("rejects %j naming the problem", (data, message) => {
    const parsed = parseMirrorTask(data, NOW);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toContain(message);
  });

  it("accepts a createdAt up to a minute ahead (app servers' clocks differ by seconds)", () => {
    expect(parseMirrorTask({ op: "remove", uid: "u", historyId: "h", createdAt: t(NOW + 60_000) }, NOW).ok).toBe(true);
  });

  it("names the first few of thousands of problems, in an error that fits a task doc", () => {
    const images = Array.from({ length: 5_000 }, () => ({ id: 1, url: 2, storagePath: 3, thumbnailUrl: 4, avifUrl: 5 }));
    const parsed = parseMirrorTask({ op: "update", uid: "u", historyId: "h", createdAt: t(1), updates: { images } }, NOW);
    expect(!parsed.ok && parsed.error).toMatch(
      /^invalid task: updates\.images\[0\]\.id: must be a string, got 1; .*; and 24,995 more problems$/,
    );
    expect(!parsed.ok && parsed.error.length).toBeLessThanOrEqual(MAX_ERROR_CHARS);
  });

  it("reads the key of a task whose other fields are invalid", () => {
    expect(parseTaskKey({ op: "update", uid: "u", historyId: "h", updates: { isPublic: "false" } })).toEqual({ uid: "u", historyId: "h" });
    expect(parseTaskKey({ uid: "__u__", historyId: "h" })).toBeUndefined();
    expect(parseTaskKey({ uid: "u" })).toBeUndefined();
  });
});

describe("readTaskState", () => {
  it("reads absent status and attempts as new and 0", () => {
    expect(readTaskState({})).toEqual({ ok: true, value: { status: undefined, attempts: 0, deadLetter: false } });
  });
  it.each([[NaN], [-100], ["3"], [1.5], [Infinity]])("refuses attempts %p instead of guessing", (attempts) => {
    const state = readTaskState({ status: "pending", attempts });
    expect(state.ok).toBe(false);
    expect(!state.ok && state.error).toMatch(/^invalid task: attempts: attempts must be a whole number >= 0 or absent, got /);
  });
  it("refuses a status no worker knows", () => {
    expect(readTaskState({ status: "queued" })).toEqual({
      ok: false,
      error: 'invalid task: status: status must be one of "pending", "processing", "done", "failed" or absent, got "queued"',
    });
  });
});

describe("decideClaim", () => {
  const now = 1_000_000;
  const state = (s: Partial<TaskState>): TaskState => ({ attempts: 0, deadLetter: false, ...s });
  const lim = (maxAttempts: number) => ({ maxAttempts, leaseMs: 60_000 });
  it("never obeys a lease or retry time no worker could have written, nor a dead letter's retry time", () => {
    const bound = plausibleUntil(now, 60_000);
    expect(decideClaim(state({ status: "processing", attempts: 1, leaseExpiresAt: t(bound.lease) }), now, lim(5))).toEqual({
      kind: "skip",
      reason: "leased",
    });
    expect(decideClaim(state({ status: "processing", attempts: 1, leaseExpiresAt: t(bound.lease + 1) }), now, lim(5))).toEqual({
      kind: "claim",
    });
    expect(decideClaim(state({ status: "failed", attempts: 1, nextAttemptAt: t(bound.retry) }), now, lim(5))).toEqual({
      kind: "skip",
      reason: "not-due",
    });
    expect(decideClaim(state({ status: "failed", attempts: 1, nextAttemptAt: t(bound.retry + 1) }), now, lim(5))).toEqual({
      kind: "claim",
    });
    expect(
      decideClaim(state({ status: "failed", attempts: 1, deadLetter: true, nextAttemptAt: t(now - 1), lastError: "by hand" }), now, lim(5)),
    ).toEqual({ kind: "exhausted", error: "by hand" });
  });
  it("claims new, pending, retry-due and lease-expired tasks", () => {
    expect(decideClaim(state({}), now, lim(5))).toEqual({ kind: "claim" });
    expect(decideClaim(state({ status: "pending" }), now, lim(5))).toEqual({ kind: "claim" });
    expect(decideClaim(state({ status: "failed", attempts: 2, nextAttemptAt: t(now) }), now, lim(5))).toEqual({ kind: "claim" });
    expect(decideClaim(state({ status: "failed", attempts: 2 }), now, lim(5))).toEqual({ kind: "claim" });
    expect(decideClaim(state({ status: "processing", attempts: 1, leaseExpiresAt: t(now - 1) }), now, lim(5))).toEqual({ kind: "claim" });
  });
  it("skips done, leased, not-yet-due and dead-letter tasks", () => {
    expect(decideClaim(state({ status: "done" }), now, lim(5))).toEqual({ kind: "skip", reason: "done" });
    expect(decideClaim(state({ status: "processing", attempts: 1, leaseExpiresAt: t(now + 1) }), now, lim(5))).toEqual({
      kind: "skip",
      reason: "leased",
    });
    expect(decideClaim(state({ status: "failed", attempts: 1, nextAttemptAt: t(now + 1) }), now, lim(5))).toEqual({
      kind: "skip",
      reason: "not-due",
    });
    expect(decideClaim(state({ status: "failed", attempts: 1, deadLetter: true }), now, lim(5))).toEqual({
      kind: "skip",
      reason: "dead-letter",
    });
  });
  it("makes a dead letter, with a write, of every task whose attempts reach the limit", () => {
    expect(decideClaim(state({ status: "failed", attempts: 5, lastError: "boom" }), now, lim(5))).toEqual({
      kind: "exhausted",
      error: "gave up after 5 attempts (MIRROR_MAX_ATTEMPTS is 5); last error: boom",
    });
    expect(decideClaim(state({ status: "failed", attempts: 3, nextAttemptAt: t(now + 1) }), now, lim(2)).kind).toBe("exhausted");
    expect(decideClaim(state({ status: "processing", attempts: 5, leaseExpiresAt: t(now - 1) }), now, lim(5)).kind).toBe("exhausted");
    expect(decideClaim(state({ status: "pending", attempts: 9 }), now, lim(5)).kind).toBe("exhausted");
  });
});

describe("the ordering rule", () => {
  it("compares seconds, then nanoseconds, then task id", () => {
    const at = (s: number, n: number, id: string) => ({ createdAt: new Timestamp(s, n), taskId: id });
    expect(compareOrder(at(1, 999_999_999, "z"), at(2, 0, "a"))).toBeLessThan(0);
    expect(compareOrder(at(1, 100_000, "z"), at(1, 400_000, "a"))).toBeLessThan(0);
    expect(compareOrder(at(1, 5, "a"), at(1, 5, "b"))).toBeLessThan(0);
    expect(compareOrder(at(1, 5, "b"), at(1, 5, "b"))).toBe(0);
  });
});

describe("the public-field rule", () => {
  it("projects only public fields of the right type, and media items' own fields", () => {
    const { fields, dropped } = publicProjection({
      ...publicItem,
      privateNote: "x",
      createdBy: { uid: "other" },
      aestheticScore: NaN,
      images: [{ id: "i", url: "u", exif: {}, thumbnailUrl: null }, "junk"],
      createdAt: { _seconds: 5, _nanoseconds: 7 },
    });
    expect(fields).toEqual({ prompt: "p", images: [{ id: "i", url: "u", thumbnailUrl: null }], createdAt: new Timestamp(5, 7) });
    expect(dropped.map((d) => d.path)).toEqual(["images[1]", "aestheticScore"]);
  });
  it("reads a Timestamp that went through JSON, and nothing else shaped like one", () => {
    expect(asTimestamp({ seconds: 1, nanoseconds: 2 })).toEqual(new Timestamp(1, 2));
    expect(asTimestamp({ _seconds: 1, _nanoseconds: 2, extra: 1 })).toBeUndefined();
    expect(asTimestamp({ _seconds: "1", _nanoseconds: 2 })).toBeUndefined();
  });
});

describe("planMirrorWrite", () => {
  const base = (over: Partial<PlanInput>): PlanInput => ({ taskId: "T", task: upsert(100), ...over });

  it("publishes the source's projection with createdBy from the user profile and the task's mark", () => {
    const plan = planMirrorWrite(
      base({ source: { ...publicItem, createdBy: { uid: "forged" } }, user: { username: "al", displayName: "Al", photoURL: "p.png" } }),
    );
    expect(plan.change).toEqual({
      kind: "set",
      data: {
        prompt: "p",
        isPublic: true,
        isDeleted: false,
        uid: "u",
        historyId: "h",
        createdBy: { uid: "u", username: "al", displayName: "Al", photoURL: "p.png" },
        mirrorTaskCreatedAt: t(100),
        mirrorTaskId: "T",
      },
    });
  });

  it.each([
    ["missing", undefined],
    ["deleted", { ...publicItem, isDeleted: true }],
    ["private", { ...publicItem, isPublic: false }],
    ["flagged with strings", { ...publicItem, isPublic: "true" }],
  ])("never publishes a %s source item, and removes its mirror", (_label, source) => {
    expect(planMirrorWrite(base({ source, mirror: { uid: "u" } }))).toEqual({
      outcome: "unpublished",
      change: { kind: "delete", owner: "u" },
      dropped: [],
    });
    expect(planMirrorWrite(base({ source }))).toEqual({ outcome: "unpublished", change: { kind: "none" }, dropped: [] });
  });

  it("lets no mark keep an item public that the source made private", () => {
    const mirror = { uid: "u", ...mark(NOW + 365 * 86_400_000) };
    const privateItem = { ...publicItem, isPublic: false };
    for (const task of [remove(100), update(100, { prompt: "x" }), upsert(100)]) {
      expect(planMirrorWrite(base({ task, source: privateItem, mirror })).change).toEqual({ kind: "delete", owner: "u" });
    }
  });

  it("skips only a stale removal of a public item; an old upsert or update rewrites from the source and keeps the newer mark", () => {
    const mirror = { uid: "u", prompt: "old", ...mark(200) };
    expect(planMirrorWrite(base({ task: remove(100), source: publicItem, mirror })).outcome).toBe("stale");
    expect(planMirrorWrite(base({ task: update(100, { isPublic: false }), source: publicItem, mirror })).outcome).toBe("stale");
    expect(planMirrorWrite(base({ task: update(100, { prompt: "x" }), source: publicItem, mirror })).change).toMatchObject({
      kind: "update",
      data: { prompt: "p", mirrorTaskCreatedAt: t(200) },
    });
    const plan = planMirrorWrite(base({ task: upsert(100), source: publicItem, mirror }));
    expect(plan.change).toMatchObject({ kind: "set", data: { prompt: "p", mirrorTaskCreatedAt: t(200), mirrorTaskId: "M" } });
  });

  it("updates only what is mirrored, to the source's projection (whatever the payload says), merging media and clearing what the source no longer has", () => {
    expect(planMirrorWrite(base({ task: update(100, { prompt: "x" }), source: publicItem })).outcome).toBe("not-mirrored");
    const mirror = { uid: "u", prompt: "old", aestheticScore: 9, model: "m", images: [{ id: "i", thumbnailUrl: "th" }] };
    const source = { ...publicItem, prompt: "x", images: [{ id: "i", url: "new" }] };
    const plan = planMirrorWrite(base({ task: update(100, { prompt: "payload only", images: [] }), source, mirror }));
    expect(plan.change).toEqual({
      kind: "update",
      data: { prompt: "x", images: [{ id: "i", url: "new", thumbnailUrl: "th" }], mirrorTaskCreatedAt: t(100), mirrorTaskId: "T" },
      clear: ["model", "aestheticScore"],
    });
    expect(planMirrorWrite(base({ task: update(100, { isPublic: false }), source: publicItem, mirror })).change).toEqual({
      kind: "delete",
      owner: "u",
    });
  });

  it("refuses, for good, any task on a mirror doc without a uid (its owner cannot be proven)", () => {
    for (const task of [upsert(100), update(100, { prompt: "x" }), remove(100)]) {
      expect(() => planMirrorWrite(base({ task, source: publicItem, mirror: { prompt: "legacy" } }))).toThrow(PermanentError);
    }
  });

  it("refuses, for good, a task whose uid does not own the mirror doc", () => {
    expect(() => planMirrorWrite(base({ task: remove(100), source: publicItem, mirror: { uid: "someone-else" } }))).toThrow(PermanentError);
  });
});

describe("the audit", () => {
  it("picks the tasks no indexed query returns", () => {
    expect(needsAudit({})).toBe(true);
    expect(needsAudit({ status: "queued" })).toBe(true);
    expect(needsAudit({ status: "failed", deadLetter: false, nextAttemptAt: "soon" })).toBe(true);
    expect(needsAudit({ status: "processing" })).toBe(true);
    expect(needsAudit({ status: "pending" })).toBe(false);
    expect(needsAudit({ status: "failed", deadLetter: true })).toBe(false);
    expect(needsAudit({ status: "failed", deadLetter: false, nextAttemptAt: t(1) })).toBe(false);
    expect(needsAudit({ status: "done" })).toBe(false);
  });
});

describe("the signup cache follows the mirror", () => {
  const entry = (historyId: string, i = 0, score = 9) => ({
    id: `${historyId}:${i}`,
    historyId,
    url: `https://cdn/${historyId}/${i}.png`,
    aestheticScore: score,
  });
  const cache = { images: [entry("a"), entry("b"), entry("b", 1), entry("c")], count: 4, minScore: 6, refreshedAt: t(1) };
  const mirror = (images: Record<string, unknown>[], score = 9) => ({ isPublic: true, isDeleted: false, aestheticScore: score, images });

  it("drops an item that left the mirror, and leaves the rest in order", () => {
    expect(followMirror(cache, "b", undefined)).toEqual({ ...cache, images: [entry("a"), entry("c")], count: 2 });
  });
  it("rebuilds an item's entries in place from its mirror doc, never adding more than it had", () => {
    const next = followMirror(
      cache,
      "b",
      mirror([
        { id: "1", url: "https://cdn/b/1.png", thumbnailUrl: "https://cdn/b/1.webp" },
        { id: "2", url: "https://cdn/b/2.png" },
        { id: "3", url: "https://cdn/b/3.png" },
      ]),
    );
    expect(next!.images).toEqual([
      entry("a"),
      { ...entry("b", 1), thumbnailUrl: "https://cdn/b/1.webp" },
      { ...entry("b", 2) },
      entry("c"),
    ]);
  });
  it("drops an item whose score fell below the cache's minScore", () => {
    expect(followMirror(cache, "a", mirror([{ id: "0", url: "https://cdn/a/0.png" }], 5))!.images).toEqual([
      entry("b"),
      entry("b", 1),
      entry("c"),
    ]);
  });
  it("changes nothing when the item is not listed or its entries stay the same", () => {
    expect(followMirror(cache, "zzz", undefined)).toBeUndefined();
    expect(followMirror(cache, "a", mirror([{ id: "0", url: "https://cdn/a/0.png" }]))).toBeUndefined();
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
  it("waits one interval, not two, after a burst of full polls (sleep 0) ends in an empty poll; then backs off", () => {
    expect(nextPollDelayMs(0, false, 2500, 15000)).toBe(2500);
    expect(nextPollDelayMs(2500, false, 2500, 15000)).toBe(5000);
  });
  describe("after a poll", () => {
    const limits = { batchLimit: 12, intervalMs: 2500, maxMs: 15000 };
    const flowing: PollPace = { delayMs: 2500, racedPolls: 0 };
    it("polls again at once after a full batch that moved tasks on, and sleeps the interval after a short one", () => {
      expect(paceAfterPoll(flowing, { found: 12, progressed: 5, lostRaces: 7 }, limits)).toEqual({ delayMs: 0, racedPolls: 0 });
      expect(paceAfterPoll(flowing, { found: 11, progressed: 11, lostRaces: 0 }, limits)).toEqual({ delayMs: 2500, racedPolls: 0 });
    });
    it("polls again at once after a full batch other workers took whole, three times in a row, then sleeps the interval", () => {
      const lost = { found: 12, progressed: 0, lostRaces: 12 };
      const seen: PollPace[] = [];
      let pace = flowing;
      for (let i = 0; i < 5; i++) seen.push((pace = paceAfterPoll(pace, lost, limits)));
      expect(seen.map((p) => p.delayMs)).toEqual([0, 0, 0, 2500, 0]);
      // A poll that moves tasks on starts the count again.
      expect(paceAfterPoll({ delayMs: 0, racedPolls: 3 }, { found: 12, progressed: 12, lostRaces: 0 }, limits).racedPolls).toBe(0);
    });
    it("sleeps after a full batch it could not move for any other reason (nothing claimable, no race lost)", () => {
      expect(paceAfterPoll(flowing, { found: 12, progressed: 0, lostRaces: 0 }, limits)).toEqual({ delayMs: 5000, racedPolls: 0 });
    });
  });
});
