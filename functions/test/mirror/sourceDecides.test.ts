import { FieldValue, Timestamp } from "firebase-admin/firestore";
import { processMirrorTask } from "../../src/core/mirror/processMirrorTask";
import { sweepMirrorQueue } from "../../src/core/mirror/sweep";
import { getQueueStatus } from "../../src/core/mirror/queueStatus";
import { MirrorQueueWorker } from "../../src/core/mirror/queueWorker";
import { refreshSignupImageCache } from "../../src/core/signupCache/refreshSignupImageCache";
import { injectCommitFaults, unavailable } from "../harness/commitFaults";
import { ManualClock, testDeps } from "../harness/deps";
import { enqueue, enqueueRaw, mirrorDoc, putHistoryItem, putUser, signupCacheIds, taskDoc } from "../harness/mirrorData";
import { MIRROR_PATHS, POLLING_PATHS, useMirrorTestBed } from "../harness/mirrorPaths";

/**
 * The source decides what is public on every path, whatever the task says: a task that cannot be
 * applied (an invalid field, out of attempts) still unpublishes an item whose source is not public,
 * a worker's wrong clock never refuses a valid task, and an update never keeps what the source removed.
 */
const bed = useMirrorTestBed("sourcedecides");

const deps = (over: Parameters<typeof testDeps>[1] = {}) => testDeps(bed.fs.db, over);
const source = (historyId = "h1") => bed.fs.db.doc(`generationHistory/u1/items/${historyId}`);

/** u1/h1 published and listed on the signup page. */
async function published(over: Record<string, unknown> = {}): Promise<void> {
  await putUser(bed.fs.db, "u1");
  await putHistoryItem(bed.fs.db, "u1", "h1", { aestheticScore: 9, ...over });
  await processMirrorTask(deps(), await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1" }, Date.now() - 10_000));
  await refreshSignupImageCache(deps());
  expect(new Set(await signupCacheIds(bed.fs.db))).toEqual(new Set(["h1"]));
}

const jsonNow = () => {
  const t = Timestamp.now();
  return { _seconds: t.seconds, _nanoseconds: t.nanoseconds };
};

describe.each(MIRROR_PATHS)("through the %s, an unpublish task with an invalid field", (path) => {
  it.each([
    [
      "an upsert whose createdAt went through JSON",
      "private",
      () => ({ op: "upsert", createdAt: jsonNow() }),
      /createdAt: createdAt must be a Firestore Timestamp, got a map/,
    ],
    [
      "a remove whose createdAt is an ISO string",
      "deleted",
      () => ({ op: "remove", createdAt: new Date().toISOString() }),
      /createdAt: createdAt must be a Firestore Timestamp, got "/,
    ],
    [
      "a remove whose createdAt is epoch ms",
      "deleted",
      () => ({ op: "remove", createdAt: Date.now() }),
      /createdAt: createdAt must be a Firestore Timestamp, got \d+/,
    ],
    [
      'an update with isPublic: "false"',
      "private",
      () => ({ op: "update", createdAt: Timestamp.now(), updates: { isPublic: "false" } }),
      /updates\.isPublic: must be a boolean, got "false"/,
    ],
    [
      "an update with isDeleted: 1",
      "private",
      () => ({ op: "update", createdAt: Timestamp.now(), updates: { isDeleted: 1 } }),
      /updates\.isDeleted: must be a boolean, got 1/,
    ],
    [
      "an upsert dated a day ahead",
      "private",
      () => ({ op: "upsert", createdAt: Timestamp.fromMillis(Date.now() + 86_400_000) }),
      /createdAt: createdAt is [\d,]+ s ahead/,
    ],
  ])("%s still unpublishes an item whose source is %s, then is a dead letter naming the field", async (_label, how, task, error) => {
    await published();
    if (how === "deleted") await source().delete();
    else await source().update({ isPublic: false });
    const id = await enqueueRaw(bed.fs.db, { uid: "u1", historyId: "h1", status: "pending", ...task() });
    await bed.paths.run(path, id, deps());
    expect(await mirrorDoc(bed.fs.db, "h1")).toBeUndefined();
    expect(await signupCacheIds(bed.fs.db)).toEqual([]);
    expect((await bed.fs.db.doc("publicGenerationOwners/h1").get()).get("uid")).toBe("u1");
    const t = await taskDoc(bed.fs.db, id);
    expect(t).toMatchObject({ status: "failed", deadLetter: true });
    expect(t.lastError).toMatch(error);
  });
});

describe("an invalid task never unpublishes what is still public, nor another user's item", () => {
  it.each(MIRROR_PATHS)("through the %s", async (path) => {
    await published();
    await putHistoryItem(bed.fs.db, "u2", "h2");
    await processMirrorTask(deps(), await enqueue(bed.fs.db, { op: "upsert", uid: "u2", historyId: "h2" }, Date.now() - 10_000));
    const publicOne = await enqueueRaw(bed.fs.db, { op: "remove", uid: "u1", historyId: "h1", status: "pending", createdAt: "now" });
    const othersItem = await enqueueRaw(bed.fs.db, { op: "remove", uid: "u1", historyId: "h2", status: "pending", createdAt: "now" });
    await bed.paths.run(path, publicOne, deps());
    await bed.paths.run(path, othersItem, deps());
    for (const id of [publicOne, othersItem]) expect(await taskDoc(bed.fs.db, id)).toMatchObject({ status: "failed", deadLetter: true });
    expect(await mirrorDoc(bed.fs.db, "h1")).toMatchObject({ uid: "u1" });
    expect(await mirrorDoc(bed.fs.db, "h2")).toMatchObject({ uid: "u2" });
  });
});

describe.each(POLLING_PATHS)("a %s whose clock is 2 minutes slow", (path) => {
  it("processes tasks whose createdAt is a server timestamp, and unpublishes the private item", async () => {
    await published();
    await source().update({ isPublic: false });
    const ref = bed.fs.db.collection("mirrorQueue").doc();
    await ref.set({ op: "upsert", uid: "u1", historyId: "h1", status: "pending", createdAt: FieldValue.serverTimestamp() });
    const slow = deps({ clock: new ManualClock(Date.now() - 120_000) });
    if (path === "worker") await new MirrorQueueWorker(slow).pollOnce();
    else await sweepMirrorQueue(slow, { limit: 10 });
    expect(await taskDoc(bed.fs.db, ref.id)).toMatchObject({ status: "done", outcome: "unpublished" });
    expect(await mirrorDoc(bed.fs.db, "h1")).toBeUndefined();
  });
});

describe.each(POLLING_PATHS)("through the %s, an unpublish that meets only transient failures", (path) => {
  it("becomes a dead letter, and the item is unpublished once Firestore is back", async () => {
    await published();
    await source().update({ isPublic: false });
    const id = await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1" });
    const clock = new ManualClock();
    // Two attempts (each Firestore client retries its commit a few times first): what five would show, sooner.
    const config = { MIRROR_MAX_ATTEMPTS: 2 };
    const run =
      path === "worker"
        ? (
            (w) => () =>
              w.pollOnce()
          )(new MirrorQueueWorker(deps({ clock, config })))
        : () => sweepMirrorQueue(deps({ clock, config }), { limit: 10 });
    const undo = injectCommitFaults(bed.fs.db, (written) => (written.includes("publicGenerations/h1") ? unavailable() : undefined));
    try {
      // Each run 16 min apart, past any backoff: the task runs out of attempts while Firestore fails.
      for (let i = 0; i < 4 && (await taskDoc(bed.fs.db, id)).deadLetter !== true; i++) {
        await run();
        clock.advance(16 * 60_000);
      }
    } finally {
      undo();
    }
    expect(await taskDoc(bed.fs.db, id)).toMatchObject({ status: "failed", deadLetter: true, attempts: 2 });
    expect(await mirrorDoc(bed.fs.db, "h1")).toBeDefined();
    // Firestore is healthy again: the next audit step re-checks the dead letter's item.
    await run();
    expect(await mirrorDoc(bed.fs.db, "h1")).toBeUndefined();
    expect(await signupCacheIds(bed.fs.db)).toEqual([]);
    expect(await taskDoc(bed.fs.db, id)).toMatchObject({ status: "failed", deadLetter: true });
    expect((await getQueueStatus(bed.fs.db, clock.now(), { maxAttempts: 2 })).deadLetters.count).toBe(1);
  });
});

it("an update mirrors the source as it is now: an image the owner removed goes, whatever order the app servers' clocks give", async () => {
  const two = [
    { id: "keep", url: "https://cdn/keep.png", storagePath: "u/u1/keep.png" },
    { id: "regret", url: "https://cdn/regret.png", storagePath: "u/u1/regret.png" },
  ];
  await published({ images: two });
  // Server A, 5 s fast, mirrors a prompt change.
  await source().update({ prompt: "new prompt" });
  const a = await enqueueRaw(bed.fs.db, {
    op: "update",
    uid: "u1",
    historyId: "h1",
    status: "pending",
    createdAt: Timestamp.fromMillis(Date.now() + 5_000),
    updates: { prompt: "new prompt" },
  });
  expect(await processMirrorTask(deps(), a)).toMatchObject({ outcome: "updated" });
  // Then the owner removes an image, and server B (on time, so dated before A) sends the update.
  await source().update({ images: [two[0]] });
  const b = await enqueueRaw(bed.fs.db, {
    op: "update",
    uid: "u1",
    historyId: "h1",
    status: "pending",
    createdAt: Timestamp.fromMillis(Date.now() - 1_000),
    updates: { images: [two[0]] },
  });
  expect(await processMirrorTask(deps(), b)).toMatchObject({ status: "done", outcome: "updated" });
  expect(await mirrorDoc(bed.fs.db, "h1")).toMatchObject({ prompt: "new prompt", images: [two[0]] });
});
