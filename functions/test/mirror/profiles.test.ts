import { MirrorQueueWorker } from "../../src/core/mirror/queueWorker";
import { PROFILE_CACHE_BOUNDS, PROFILE_TTL_MS, ProfileCache } from "../../src/core/mirror/profiles";
import { ManualClock, testDeps } from "../harness/deps";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { enqueue, mirrorDoc, putHistoryItem, putUser } from "../harness/mirrorData";

/**
 * A standalone worker reads an owner's profile once per PROFILE_TTL_MS (profiles.ts): an edit of
 * the profile reaches the items it publishes from then on within that time, and a new worker, the
 * trigger or the sweep read it afresh.
 */
let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("profiles");
});
beforeEach(() => fs.clear());
afterAll(() => fs.close());

async function publish(worker: MirrorQueueWorker, historyId: string): Promise<unknown> {
  await putHistoryItem(fs.db, "u1", historyId);
  await enqueue(fs.db, { op: "upsert", uid: "u1", historyId });
  expect(await worker.pollOnce()).toMatchObject({ progressed: 1 });
  return (await mirrorDoc(fs.db, historyId))?.createdBy;
}

it("a profile edit reaches a standalone worker's next publications within PROFILE_TTL_MS", async () => {
  await putUser(fs.db, "u1", "Ana");
  const clock = new ManualClock();
  const worker = new MirrorQueueWorker(testDeps(fs.db, { clock }));
  expect(await publish(worker, "h1")).toMatchObject({ uid: "u1", displayName: "Ana" });

  await putUser(fs.db, "u1", "Ana B.");
  clock.advance(PROFILE_TTL_MS - 1);
  expect(await publish(worker, "h2")).toMatchObject({ displayName: "Ana" });
  clock.advance(1);
  expect(await publish(worker, "h3")).toMatchObject({ displayName: "Ana B." });
  // Another worker reads it afresh.
  expect(await publish(new MirrorQueueWorker(testDeps(fs.db, { clock })), "h4")).toMatchObject({ displayName: "Ana B." });
});

describe("what a standalone worker's profile cache holds", () => {
  it("only the profile fields createdBy takes, whatever else the owner wrote into users/{uid}", async () => {
    // users/{uid} is the user's own to write (firestore.rules): it may hold anything up to 1 MiB.
    await fs.db
      .doc("users/u1")
      .set({ username: "ana", displayName: "Ana", photoURL: "https://p.example/a.png", settings: "x".repeat(500_000) });
    const got = await new ProfileCache().get(fs.db, ["u1"], Date.now());
    expect(got.get("u1")).toEqual({ username: "ana", displayName: "Ana", photoURL: "https://p.example/a.png" });
  });

  // The bounds are a constructor argument: small ones show the rule with a few small docs.
  const big = "x".repeat(3_000);
  it.each([
    { bound: "byte", bounds: { ...PROFILE_CACHE_BOUNDS, maxBytes: 10_000 }, n: 5, value: big },
    { bound: "count", bounds: { ...PROFILE_CACHE_BOUNDS, maxProfiles: 3 }, n: 4, value: "Ana" },
  ])("at most its $bound bound: past it, the profiles read longest ago are dropped and read again", async ({ bounds, n, value }) => {
    const batch = fs.db.batch();
    for (let i = 0; i < n; i++) batch.set(fs.db.doc(`users/u${i}`), { displayName: `${value}${i}` });
    await batch.commit();
    const cache = new ProfileCache(PROFILE_TTL_MS, bounds);
    const now = Date.now();
    for (let i = 0; i < n; i++) await cache.get(fs.db, [`u${i}`], now);

    await fs.db.doc("users/u0").set({ displayName: "edited" });
    await fs.db.doc(`users/u${n - 1}`).set({ displayName: "edited" });
    // The first profile read no longer fits: read again. The last one is still kept (within PROFILE_TTL_MS).
    expect((await cache.get(fs.db, ["u0"], now)).get("u0")).toEqual({ displayName: "edited" });
    expect((await cache.get(fs.db, [`u${n - 1}`], now)).get(`u${n - 1}`)).toEqual({ displayName: `${value}${n - 1}` });
  });

  it("a worker clock that steps back keeps a profile no longer than PROFILE_TTL_MS of its own time", async () => {
    await putUser(fs.db, "u1", "Ana");
    const clock = new ManualClock();
    const cache = new ProfileCache();
    expect((await cache.get(fs.db, ["u1"], clock.now())).get("u1")).toMatchObject({ displayName: "Ana" });
    await putUser(fs.db, "u1", "Ana B.");
    clock.advance(-3_600_000); // an NTP step back of an hour
    expect((await cache.get(fs.db, ["u1"], clock.now())).get("u1")).toMatchObject({ displayName: "Ana B." });
  });
});
