import { Timestamp } from "firebase-admin/firestore";
import { refreshSignupImageCache } from "../../src/core/signupCache/refreshSignupImageCache";
import { memoryLogger, testDeps } from "../harness/deps";
import { createTestFirestore, eventually, type TestFirestore } from "../harness/firestore";
import { Pace, startWorkerProcess } from "../harness/processes";

let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("signup");
});
beforeEach(() => fs.clear());
afterAll(() => fs.close());

const mirror = (id: string, score: number | undefined, over: Record<string, unknown> = {}) =>
  fs.db.doc(`publicGenerations/${id}`).set({
    uid: "u",
    historyId: id,
    isPublic: true,
    isDeleted: false,
    ...(score === undefined ? {} : { aestheticScore: score }),
    images: [{ id: "0", url: `https://cdn/${id}/0.png`, thumbnailUrl: `https://cdn/${id}/0.webp`, avifUrl: `https://cdn/${id}/0.avif` }],
    ...over,
  });
const cache = async () => (await fs.db.doc("signupImageCache/current").get()).data();

it("caches the highest-scored images first, with their optimized urls, up to the limit", async () => {
  await Promise.all([mirror("a", 7), mirror("b", 9.5), mirror("c", 8), mirror("d", 6.5), mirror("low", 3)]);
  const report = await refreshSignupImageCache(testDeps(fs.db), { limit: 3 });
  expect(report).toMatchObject({ refreshed: true, count: 3 });
  const doc = await cache();
  expect(doc!.count).toBe(3);
  expect(doc!.images.map((i: { historyId: string }) => i.historyId)).toEqual(["b", "c", "a"]);
  expect(doc!.images[0]).toEqual({
    id: "b:0",
    historyId: "b",
    url: "https://cdn/b/0.png",
    thumbnailUrl: "https://cdn/b/0.webp",
    avifUrl: "https://cdn/b/0.avif",
    aestheticScore: 9.5,
  });
  expect(doc!.refreshedAt).toBeInstanceOf(Timestamp);
});

it("takes several images per generation, and images without optimization fields as they are", async () => {
  await mirror("multi", 9, {
    images: [
      { id: "x", url: "https://cdn/multi/x.png" },
      { id: "y", url: "https://cdn/multi/y.png", thumbnailUrl: "https://cdn/multi/y.webp" },
      { id: "z", url: "https://cdn/multi/z.png" },
      { id: "nourl" },
    ],
  });
  await refreshSignupImageCache(testDeps(fs.db), { limit: 10, maxPerGeneration: 2 });
  expect((await cache())!.images).toEqual([
    { id: "multi:x", historyId: "multi", url: "https://cdn/multi/x.png", aestheticScore: 9 },
    { id: "multi:y", historyId: "multi", url: "https://cdn/multi/y.png", thumbnailUrl: "https://cdn/multi/y.webp", aestheticScore: 9 },
  ]);
});

it("never caches deleted or private items, or items without a score or below minScore", async () => {
  await Promise.all([
    mirror("ok", 7),
    mirror("deleted", 10, { isDeleted: true }),
    mirror("private", 10, { isPublic: false }),
    mirror("unscored", undefined),
    mirror("below", 5.9),
  ]);
  await refreshSignupImageCache(testDeps(fs.db), { limit: 10, minScore: 6 });
  expect((await cache())!.images.map((i: { historyId: string }) => i.historyId)).toEqual(["ok"]);
});

it("pages past private items to fill the cache", async () => {
  for (let i = 0; i < 6; i++) await mirror(`p${i}`, 9 + i / 10, { isPublic: false });
  await mirror("visible", 8);
  await refreshSignupImageCache(testDeps(fs.db), { limit: 3 });
  expect((await cache())!.images.map((i: { historyId: string }) => i.historyId)).toEqual(["visible"]);
});

it("keeps the previous cache when nothing qualifies", async () => {
  await mirror("a", 8);
  await refreshSignupImageCache(testDeps(fs.db));
  const before = await cache();
  await fs.db.doc("publicGenerations/a").delete();
  const report = await refreshSignupImageCache(testDeps(fs.db));
  expect(report).toMatchObject({ refreshed: false, count: 0 });
  expect(report.reason).toContain("no public image");
  expect(await cache()).toEqual(before);
});

it("the standalone worker refreshes at start and exits 0 on SIGTERM", async () => {
  await mirror("a", 8);
  const w = startWorkerProcess("signupImageCacheWorker.js", fs.projectId);
  try {
    // It refreshes at start: the cache is written by the time it logs that it runs, and the run's end soon after.
    const startMs = await w.started;
    await eventually(cache, (doc) => doc?.count === 1, Pace.START_SLACK * startMs, "the cache written at start");
    await eventually(
      async () => w.logs.some((l) => l.message === "signupCache.refreshed"),
      Boolean,
      Pace.START_SLACK * startMs,
      "the first run's end",
    );
    w.child.kill("SIGTERM");
    expect(await w.exited).toEqual({ code: 0, signal: null });
    expect(w.logs.map((l) => l.message)).toEqual(expect.arrayContaining(["worker.started", "signupCache.refreshed", "worker.stopped"]));
  } finally {
    w.child.kill("SIGKILL");
  }
});

it("skips, and logs, images whose URLs are too long to cache, so huge URLs never make a refresh fail", async () => {
  // What the mirror publishes for owners who wrote ~300 KB URLs (each doc stays under 1 MiB).
  const huge = (id: string, c: string, score: number) =>
    mirror(id, score, {
      images: [
        { id: "a", url: `https://x/${c.repeat(300_000)}` },
        { id: "b", url: "https://x/ok.png", thumbnailUrl: `https://x/${c.repeat(300_000)}` },
      ],
    });
  await Promise.all([huge("big1", "a", 10), huge("big2", "b", 9.8), mirror("fresh", 9.5)]);
  const logger = memoryLogger();
  const report = await refreshSignupImageCache(testDeps(fs.db, { logger }));
  expect(report).toMatchObject({ refreshed: true, count: 3 });
  const doc = await cache();
  // The oversized url leaves its image out; an oversized thumbnail leaves the entry without it.
  expect(doc!.images.map((i: { id: string }) => i.id)).toEqual(["big1:b", "big2:b", "fresh:0"]);
  expect(doc!.images[0]).toEqual({ id: "big1:b", historyId: "big1", url: "https://x/ok.png", aestheticScore: 10 });
  expect(logger.entries.find((e) => e.message === "signupCache.images_skipped")).toMatchObject({
    count: 2,
    images: ["big1 image 0: url of 300,010 characters", "big2 image 0: url of 300,010 characters"],
  });
});

it("ranks only scores from 0 to 10: a score out of range never reaches the signup page", async () => {
  for (let i = 0; i < 30; i++) await mirror(`good${i}`, 9);
  await Promise.all([mirror("troll", 1e308), mirror("infinite", 11), mirror("negative", -1)]);
  await refreshSignupImageCache(testDeps(fs.db), { limit: 24 });
  const ids = (await cache())!.images.map((i: { historyId: string }) => i.historyId);
  expect(ids).toHaveLength(24);
  expect(ids.filter((id: string) => !id.startsWith("good"))).toEqual([]);
});
