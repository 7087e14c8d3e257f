import { Timestamp, type Firestore } from "firebase-admin/firestore";
import { BACKFILL_LEASE_MS, backfillCursorRef } from "../../src/core/mirror/backfillCursor";
import { runBackfill, type BackfillOptions, type BackfillReport } from "../../src/core/mirror/backfill";
import { FIRST_PAGE_SIZE, PAGE_BYTES } from "../../src/core/mirror/historyWalk";
import { claimTask } from "../../src/core/mirror/lease";
import { processMirrorTask } from "../../src/core/mirror/processMirrorTask";
import type { ProgressEvent } from "../../src/core/progress";
import { failingCounts } from "../harness/countFaults";
import { ManualClock, memoryLogger, testDeps } from "../harness/deps";
import { createTestFirestore, eventuallyWhileProgressing, type TestFirestore } from "../harness/firestore";
import { mirrorMismatches } from "../harness/mirrorCheck";
import { historyItem, mirrorDoc, putHistoryItem, putUser } from "../harness/mirrorData";

/**
 * The mirror backfill on the emulator: from an empty or wrong mirror to the public projection of
 * every item, its scopes and dry run, and resuming: stopped by a signal, by its time budget, and
 * taken over after its process hung past its lease, never enqueuing an item twice.
 */
let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("backfill");
});
beforeEach(() => fs.clear());
afterAll(() => fs.close());

const deps = (clock?: ManualClock) => testDeps(fs.db, { clock });
const applyWith = (d: ReturnType<typeof deps>) => (taskId: string) => processMirrorTask(d, taskId, { workerId: "test" });
const backfill = (options: BackfillOptions = {}, d = deps()) => runBackfill(d, { rate: 5000, apply: applyWith(d), ...options });

type Kind = "public" | "private" | "deleted" | "flagOfWrongType" | "fieldsOfWrongType" | "noProfile";
const KINDS: Kind[] = [
  "public",
  "private",
  "deleted",
  "flagOfWrongType",
  "fieldsOfWrongType",
  "public",
  "noProfile",
  "public",
  "public",
  "public",
];

/**
 * `n` history items of every kind, over 17 users (every 5th without a profile), and a wrong
 * mirror to start from: every 7th item has a stale mirror doc (a private item's must go), every
 * Returns how many items are public, how many need a task (public, or with a mirror doc to
 * remove), and how many are not public and not mirrored.
 */
async function seedMix(db: Firestore, n: number): Promise<{ publicCount: number; fixes: number; notPublic: number }> {
  const writer = db.bulkWriter();
  for (let u = 0; u < 17; u++)
    if (u % 5) writer.set(db.doc(`users/u${u}`), { username: `u${u}`, displayName: `User ${u}`, photoURL: `https://p/u${u}.png` });
  let publicCount = 0;
  let fixes = 0;
  let notPublic = 0;
  for (let i = 0; i < n; i++) {
    const kind = KINDS[i % KINDS.length];
    const uid = kind === "noProfile" ? "u5" : `u${i % 17}`;
    const over: Record<string, unknown> = {
      private: { isPublic: false },
      deleted: { isDeleted: true },
      flagOfWrongType: { isPublic: "true" },
      fieldsOfWrongType: { prompt: 42, aestheticScore: "high", secretNote: "never published" },
      public: {},
      noProfile: {},
    }[kind];
    const item = historyItem(uid, `h${i}`, over);
    writer.set(db.doc(`generationHistory/${uid}/items/h${i}`), item);
    const isPublic = !["private", "deleted", "flagOfWrongType"].includes(kind);
    if (isPublic) publicCount++;
    const stale = i % 7 === 0;
    const optimized =
      i % 11 === 0 ? { images: [{ id: `h${i}-img0`, url: "https://old/0.png", thumbnailUrl: `https://cdn/h${i}-thumb.png` }] } : {};
    if (stale)
      writer.set(db.doc(`publicGenerations/h${i}`), {
        uid,
        historyId: `h${i}`,
        prompt: "stale",
        isPublic: true,
        isDeleted: false,
        ...optimized,
      });
    if (stale || isPublic) fixes++;
    if (!stale && !isPublic) notPublic++;
  }
  await writer.close();
  return { publicCount, fixes, notPublic };
}

async function tasksByHistoryId(db: Firestore): Promise<Map<string, number>> {
  const by = new Map<string, number>();
  for (const d of (await db.collection("mirrorQueue").get()).docs) by.set(d.get("historyId"), (by.get(d.get("historyId")) ?? 0) + 1);
  return by;
}

const noDuplicates = (by: Map<string, number>) => [...by].filter(([, n]) => n > 1);

describe("a backfill of a few thousand items", () => {
  it("ends with the mirror equal to the public projection of the sources; a second run finds nothing to do", async () => {
    const n = 2000;
    const { publicCount, fixes, notPublic } = await seedMix(fs.db, n);
    // Not history items: a deeper `items` collection (read, skipped) and another collection's (never read).
    await fs.db.doc("generationHistory/u1/items/h1/items/deep").set(historyItem("u1", "deep"));
    await fs.db.doc("carts/c1/items/x").set(historyItem("u1", "x"));
    expect((await mirrorMismatches(fs.db)).length).toBeGreaterThan(0);

    const first = await backfill();
    expect(first).toMatchObject({ complete: true, resumed: false, walked: n + 1, notHistoryItems: 1, notPublic, matching: 0 });
    expect(first.tasks).toMatchObject({ enqueued: fixes, alreadyEnqueued: 0, notDone: [] });
    expect(first.tasks.applied!.byStatus).toEqual({ done: fixes });
    expect(await mirrorMismatches(fs.db)).toEqual([]);
    expect(noDuplicates(await tasksByHistoryId(fs.db))).toEqual([]);
    // the smart merge kept the optimization field the mirror had (h77: public, stale, optimized)
    expect(await mirrorDoc(fs.db, "h77")).toMatchObject({
      prompt: "prompt h77",
      images: [{ id: "h77-img0", url: "https://cdn.example/h77/0.png", thumbnailUrl: "https://cdn/h77-thumb.png" }],
    });

    const second = await backfill();
    expect(second).toMatchObject({ complete: true, resumed: false, matching: publicCount, tasks: { enqueued: 0 } });
    expect(second.runId).not.toBe(first.runId);
  });
});

describe("options", () => {
  it("a dry run reports what it would change and changes nothing: no task, no mirror write, no cursor doc", async () => {
    await putUser(fs.db, "u1");
    await putHistoryItem(fs.db, "u1", "new");
    await putHistoryItem(fs.db, "u1", "hidden", { isPublic: false });
    await putHistoryItem(fs.db, "u1", "edited");
    await fs.db.doc("publicGenerations/hidden").set({ uid: "u1", historyId: "hidden", prompt: "was public" });
    await fs.db.doc("publicGenerations/edited").set({ uid: "u1", historyId: "edited", prompt: "old" });
    const before = (await fs.db.collection("publicGenerations").get()).docs.map((d) => [d.id, d.updateTime.toMillis()]);

    const dry = await backfill({ dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, complete: true, walked: 3, tasks: { enqueued: 3 } });
    expect(dry.drift.missing.sample).toEqual([{ uid: "u1", historyId: "new" }]);
    expect(dry.drift.sourcePrivate.sample).toEqual([{ uid: "u1", historyId: "hidden" }]);
    expect(dry.drift.differs.sample[0]).toMatchObject({
      uid: "u1",
      historyId: "edited",
      fields: expect.arrayContaining(["prompt", "createdBy"]),
    });
    expect((await fs.db.collection("mirrorQueue").get()).size).toBe(0);
    expect((await fs.db.collection("publicGenerations").get()).docs.map((d) => [d.id, d.updateTime.toMillis()])).toEqual(before);
    expect((await fs.db.collection("workerState").get()).size).toBe(0);
  });

  it("walks items of every id, whatever it sorts below or above: digits, capitals, punctuation, numeric-looking, Unicode", async () => {
    // Firebase Auth uids start with digits and capitals, which sort below "__" (the walk's lower bound is Firestore's smallest id).
    const uids = ["0abc", "9", "A1", "Zed", "-x", ".x", "!", "~", "é", "\u{1F600}", "__id7", "a__", "\u202eevil", "x".repeat(1500)];
    for (const uid of uids) await putHistoryItem(fs.db, uid, uid.slice(0, 40) === uid ? `${uid}-h` : "long-h");
    await putHistoryItem(fs.db, "u1", "0");
    const report = await backfill({ pageSize: 4 });
    expect(report).toMatchObject({ complete: true, walked: uids.length + 1, notHistoryItems: 0, tasks: { enqueued: uids.length + 1 } });
    expect(await mirrorMismatches(fs.db)).toEqual([]);
  });

  it("--uid walks one user's items only, with a cursor doc of its own", async () => {
    for (const uid of ["u1", "u2"]) for (let i = 0; i < 3; i++) await putHistoryItem(fs.db, uid, `${uid}-h${i}`);
    const report = await backfill({ uid: "u1" });
    expect(report).toMatchObject({ complete: true, walked: 3, scope: { uid: "u1", since: null }, tasks: { enqueued: 3 } });
    expect([...(await tasksByHistoryId(fs.db)).keys()].sort()).toEqual(["u1-h0", "u1-h1", "u1-h2"]);
    expect(await mirrorDoc(fs.db, "u2-h0")).toBeUndefined();
    expect(backfillCursorRef(fs.db, { uid: "u1" }).path).not.toBe(backfillCursorRef(fs.db, {}).path);
    expect((await backfillCursorRef(fs.db, { uid: "u1" }).get()).get("status")).toBe("complete");
  });

  it("--since walks the items updated at or after the time, of every user; an updatedAt that is not a Timestamp is never since", async () => {
    const since = Timestamp.fromMillis(1_750_000_000_000);
    await putHistoryItem(fs.db, "u1", "old", { updatedAt: Timestamp.fromMillis(since.toMillis() - 1) });
    await putHistoryItem(fs.db, "u1", "exact", { updatedAt: since });
    await putHistoryItem(fs.db, "u2", "newer", { updatedAt: Timestamp.fromMillis(since.toMillis() + 86_400_000) });
    await putHistoryItem(fs.db, "u2", "garbled", { updatedAt: "2030-01-01" });
    // an `items` collection elsewhere, updated since: read by the collection-group query, skipped
    await fs.db.doc("carts/c1/items/x").set({ updatedAt: since });
    const report = await backfill({ since });
    expect(report).toMatchObject({
      complete: true,
      walked: 3,
      notHistoryItems: 1,
      tasks: { enqueued: 2 },
      scope: { since: since.toDate().toISOString() },
    });
    expect([...(await tasksByHistoryId(fs.db)).keys()].sort()).toEqual(["exact", "newer"]);
  });

  it("an item whose mirror doc belongs to another user's item is a conflict: reported, not enqueued, and the rest goes on", async () => {
    await putHistoryItem(fs.db, "u1", "shared");
    await putHistoryItem(fs.db, "u2", "shared", { prompt: "the other one" });
    await putHistoryItem(fs.db, "u2", "after");
    await fs.db.doc("publicGenerations/shared").set({ ...historyItem("u1", "shared"), uid: "u1", historyId: "shared" });
    const report = await backfill();
    expect(report.drift.conflict).toEqual({ count: 1, sample: [{ uid: "u2", historyId: "shared", owner: "u1" }] });
    expect(report.tasks.notDone).toEqual([]);
    expect(await mirrorDoc(fs.db, "after")).toMatchObject({ uid: "u2" });
    expect(await mirrorDoc(fs.db, "shared")).toMatchObject({ uid: "u1", prompt: "prompt shared" });
  });

  it("refuses a rate or a uid no run can take, before reading anything", async () => {
    await expect(backfill({ rate: 0 })).rejects.toThrow(/rate must be an integer from 1 to 5000/);
    await expect(backfill({ uid: "__x__" })).rejects.toThrow(/uid must not start and end with __/);
    expect((await fs.db.collection("workerState").get()).size).toBe(0);
  });
});

/** `count` public items with no mirror doc, each needing a task; returns their paths in the walk's order. */
async function seedPublic(db: Firestore, count: number): Promise<string[]> {
  const writer = db.bulkWriter();
  const paths = Array.from({ length: count }, (_, i) => `generationHistory/u${i % 3}/items/h${String(i).padStart(4, "0")}`);
  for (const path of paths) writer.set(db.doc(path), historyItem(path.split("/")[1], path.split("/")[3]));
  await writer.close();
  return paths.sort();
}

describe("bounds", () => {
  it("pages shrink to what fits PAGE_BYTES when items are large (the rules bound no field), from a first page of FIRST_PAGE_SIZE", async () => {
    await putUser(fs.db, "big");
    // 45 items of 600 KB: a page of 300 such items and their mirror docs would hold ~360 MB.
    for (let i = 0; i < 45; i++)
      await putHistoryItem(fs.db, "big", `x${i}`, { prompt: String.fromCharCode(97 + (i % 26)).repeat(600_000) });
    const pages: number[] = [];
    const report = await backfill({ onProgress: (e) => pages.push(e.done - pages.reduce((a, b) => a + b, 0)) });
    expect(report).toMatchObject({ complete: true, walked: 45, tasks: { enqueued: 45, notDoneCount: 0 } });
    expect(pages[0]).toBe(FIRST_PAGE_SIZE);
    expect(Math.max(...pages.slice(1))).toBeLessThanOrEqual(Math.floor(PAGE_BYTES / 600_000));
    expect(await mirrorMismatches(fs.db)).toEqual([]);
  });

  it("holds its rate on a short run too: the first page is paced, so items walked never pass rate × time", async () => {
    await seedPublic(fs.db, 30);
    const rate = 40;
    const report = await runBackfill(deps(), { dryRun: true, rate });
    expect(report).toMatchObject({ complete: true, walked: 30 });
    expect(report.durationMs).toBeGreaterThanOrEqual((1000 * report.walked) / rate);
  });
  it("a progress total Firestore cannot count (past its deadline over millions of items) does not fail the run: no total, a warning", async () => {
    await seedPublic(fs.db, 30);
    const logger = memoryLogger();
    const events: ProgressEvent[] = [];
    const report = await runBackfill(testDeps(failingCounts(fs.db), { logger }), {
      rate: 5000,
      pageSize: 10,
      apply: applyWith(deps()),
      onProgress: (e) => events.push(e),
    });
    expect(report).toMatchObject({ complete: true, walked: 30, tasks: { enqueued: 30 } });
    expect(events.at(-1)).toMatchObject({ phase: "history items", done: 30, total: undefined });
    expect(logger.entries).toContainEqual(
      expect.objectContaining({ severity: "WARNING", message: "progress.total_failed", phase: "history items" }),
    );
    expect(await mirrorMismatches(fs.db)).toEqual([]);
  });
});

describe("stopping and resuming", () => {
  it("stopped by its signal after two pages, it saves the cursor and gives the lease up; the next run resumes the same run and walks the rest", async () => {
    const paths = await seedPublic(fs.db, 230);
    const controller = new AbortController();
    const events: ProgressEvent[] = [];
    const first = await backfill({
      pageSize: 50,
      signal: controller.signal,
      onProgress: (e) => {
        events.push(e);
        if (events.length === 2) controller.abort();
      },
    });
    expect(first).toMatchObject({ complete: false, stoppedBy: "signal", walked: 100, tasks: { enqueued: 100 } });
    expect(events.map((e) => [e.done, e.total])).toEqual([
      [50, 230],
      [100, 230],
    ]);
    const cursor = (await backfillCursorRef(fs.db, {}).get()).data()!;
    expect(cursor).toMatchObject({
      status: "stopped",
      stoppedBy: "signal",
      runId: first.runId,
      walked: 100,
      enqueued: 100,
      cursor: { path: paths[99] },
    });
    expect(cursor.leaseOwner).toBeUndefined();

    const resumed: ProgressEvent[] = [];
    const second = await backfill({ pageSize: 50, onProgress: (e) => resumed.push(e) });
    expect(second).toMatchObject({
      complete: true,
      resumed: true,
      runId: first.runId,
      walked: 130,
      tasks: { enqueued: 130, alreadyEnqueued: 0 },
      run: { walked: 230, enqueued: 230 },
    });
    expect(resumed[0].done).toBe(150);
    expect(await mirrorMismatches(fs.db)).toEqual([]);
    const tasks = await tasksByHistoryId(fs.db);
    expect({ items: tasks.size, duplicates: noDuplicates(tasks) }).toEqual({ items: 230, duplicates: [] });
    expect((await backfillCursorRef(fs.db, {}).get()).get("status")).toBe("complete");
  });

  it("its cursor doc deleted mid-walk (by hand): it stops at its next save without error, and the next run walks from the start, nothing enqueued twice", async () => {
    await seedPublic(fs.db, 230);
    const clock = new ManualClock();
    const d = deps(clock);
    let applied = 0;
    const first = await backfill(
      {
        pageSize: 50,
        onProgress: () => clock.advance(1500), // a save after every page
        // Deleted while page 2 is applied, before its save.
        apply: async (taskId) => {
          if (++applied === 51) await backfillCursorRef(fs.db, {}).delete();
          return processMirrorTask(d, taskId);
        },
      },
      d,
    );
    expect(first).toMatchObject({ complete: false, stoppedBy: "lease lost", walked: 100 });
    expect((await backfillCursorRef(fs.db, {}).get()).exists).toBe(false);
    const second = await backfill({ pageSize: 50 });
    expect(second).toMatchObject({ complete: true, resumed: false, walked: 230, matching: 100, tasks: { enqueued: 130 } });
    const tasks = await tasksByHistoryId(fs.db);
    expect({ items: tasks.size, duplicates: noDuplicates(tasks) }).toEqual({ items: 230, duplicates: [] });
    expect(await mirrorMismatches(fs.db)).toEqual([]);
  });

  it("stops at its time budget between pages, and the next invocation goes on", async () => {
    await seedPublic(fs.db, 120);
    const clock = new ManualClock();
    const d = deps(clock);
    const first = await backfill({ pageSize: 50, timeBudgetMs: 1000, onProgress: () => clock.advance(1500) }, d);
    expect(first).toMatchObject({ complete: false, stoppedBy: "time budget", walked: 50 });
    const second = await backfill({ pageSize: 50, timeBudgetMs: 1000, onProgress: () => clock.advance(1500) }, d);
    expect(second).toMatchObject({ resumed: true, walked: 50, run: { walked: 100 } });
    const third = await backfill({ pageSize: 50 }, d);
    expect(third).toMatchObject({ complete: true, walked: 20, run: { walked: 120, enqueued: 120 } });
    expect(await mirrorMismatches(fs.db)).toEqual([]);
  });

  // A cursor is a position in the walk's query: a page may end on a document that is not a history item.
  it("resumes after a page that ends on another collection's `items` doc (a --since walk), not from the start", async () => {
    const since = Timestamp.fromMillis(1_750_000_000_000);
    const at = (s: number) => Timestamp.fromMillis(since.toMillis() + s * 1000);
    await putUser(fs.db, "u1");
    for (let i = 0; i < 4; i++) await putHistoryItem(fs.db, "u1", `a${i}`, { updatedAt: at(i) });
    await fs.db.doc("carts/c1/items/x").set({ updatedAt: at(4) });
    for (let i = 5; i < 12; i++) await putHistoryItem(fs.db, "u1", `b${i}`, { updatedAt: at(i) });
    const clock = new ManualClock();
    const options: BackfillOptions = { since, pageSize: 5, timeBudgetMs: 1000, onProgress: () => clock.advance(1500) };
    const first = await backfill(options, deps(clock));
    expect(first).toMatchObject({ walked: 5, stoppedBy: "time budget" });
    expect((await backfillCursorRef(fs.db, { since }).get()).get("cursor.path")).toBe("carts/c1/items/x");
    const second = await backfill(options, deps(clock));
    expect(second).toMatchObject({ resumed: true, walked: 5, run: { walked: 10 }, tasks: { enqueued: 5, alreadyEnqueued: 0 } });
  });

  it("resumes after a page that ends on a deeper `items` doc under an item (the default walk), not from the start", async () => {
    await putUser(fs.db, "u1");
    for (let i = 0; i < 4; i++) await putHistoryItem(fs.db, "u1", `a${i}`);
    await fs.db.doc("generationHistory/u1/items/a3/items/deep").set({ x: 1 });
    for (let i = 0; i < 6; i++) await putHistoryItem(fs.db, "u1", `b${i}`);
    const clock = new ManualClock();
    const options: BackfillOptions = { pageSize: 5, timeBudgetMs: 1000, onProgress: () => clock.advance(1500) };
    const first = await backfill(options, deps(clock));
    expect((await backfillCursorRef(fs.db, {}).get()).get("cursor.path")).toBe("generationHistory/u1/items/a3/items/deep");
    const second = await backfill(options, deps(clock));
    expect([first.walked, second.walked, second.run.walked, second.tasks.alreadyEnqueued]).toEqual([5, 5, 10, 0]);
  });

  it("a task another process holds is not applied here: reported not done (the CLI exits 1), a task another process finished is done", async () => {
    await putUser(fs.db, "u1");
    for (let i = 0; i < 3; i++) await putHistoryItem(fs.db, "u1", `s${i}`);
    const d = deps();
    const report = await backfill({
      apply: async (taskId) => {
        const snap = await fs.db.doc(`mirrorQueue/${taskId}`).get();
        // s1: a trigger claimed it and died (its lease runs on); s2: a trigger applied it first.
        if (snap.get("historyId") === "s1") await claimTask(snap, "trigger:dead", 1, d.clock.now(), 60_000);
        if (snap.get("historyId") === "s2") await processMirrorTask(d, taskId, { workerId: "trigger" });
        return processMirrorTask(d, taskId, { workerId: "test" });
      },
    });
    expect(report.complete).toBe(true);
    expect(report.tasks.notDoneCount).toBe(1);
    expect(report.tasks.notDone).toEqual([expect.objectContaining({ historyId: "s1", status: "skipped (leased)" })]);
    expect(await mirrorDoc(fs.db, "s1")).toBeUndefined();
    expect(await mirrorDoc(fs.db, "s2")).toMatchObject({ uid: "u1" });
  });

  it("abandoned while a call it waits for never answers: it returns at once and gives the lease up with the cursor of the last page done", async () => {
    await seedPublic(fs.db, 30);
    const abandon = new AbortController();
    let pages = 0;
    const d = deps();
    const report = await backfill(
      {
        pageSize: 10,
        onProgress: () => pages++,
        // The second page's first apply never ends (a Firestore that stopped answering); the run is abandoned then.
        apply: (taskId) => {
          if (pages < 1) return processMirrorTask(d, taskId, { workerId: "test" });
          abandon.abort();
          return new Promise(() => undefined);
        },
        abandon: abandon.signal,
      },
      d,
    );
    expect(report).toMatchObject({ complete: false, stoppedBy: "signal", walked: 10 });
    const saved = (await backfillCursorRef(fs.db, {}).get()).data()!;
    expect(saved).toMatchObject({ status: "stopped", stoppedBy: "signal", walked: 10 });
    expect(saved.leaseOwner).toBeUndefined();
    const next = await backfill({ pageSize: 10 });
    expect(next).toMatchObject({ resumed: true, complete: true, run: { walked: 30 } });
    expect(await mirrorMismatches(fs.db)).toEqual([]);
  });

  it("two runs started together: one works, the other reports busy and touches nothing", async () => {
    await seedPublic(fs.db, 100);
    const [a, b] = await Promise.all([backfill({ pageSize: 20 }), backfill({ pageSize: 20 })]);
    const reports = [a, b];
    expect(reports.map((r) => r.stoppedBy ?? "complete").sort()).toEqual(["busy", "complete"]);
    const busy = reports.find((r) => r.stoppedBy === "busy")!;
    expect(busy).toMatchObject({ walked: 0, tasks: { enqueued: 0 }, busy: { leaseOwner: expect.stringMatching(/^backfill:/) } });
    const tasks = await tasksByHistoryId(fs.db);
    expect({ items: tasks.size, duplicates: noDuplicates(tasks) }).toEqual({ items: 100, duplicates: [] });
  });

  it("a run that hangs past its lease is taken over from its last saved cursor; what it enqueued after that is not enqueued again, and it stops when it wakes", async () => {
    const paths = await seedPublic(fs.db, 200);
    const clock = new ManualClock();
    const d = deps(clock);
    let applied = 0;
    let settled = 0;
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    let hung!: () => void;
    const isHung = new Promise<void>((resolve) => (hung = resolve));
    // A saves its cursor after pages 1 and 2 (its clock moves 2 s a page), then hangs in page 3.
    const a = backfill(
      {
        pageSize: 50,
        onProgress: () => clock.advance(2000),
        apply: async (taskId) => {
          if (++applied === 120) {
            hung();
            await woken;
          }
          try {
            return await processMirrorTask(d, taskId);
          } finally {
            settled++;
          }
        },
      },
      d,
    );
    await isHung;
    // Page 3's other lanes settle (pages 1 and 2, and page 3 but the hung task), so its tasks exist before B looks.
    await eventuallyWhileProgressing(
      async () => settled,
      (n) => n === 149,
      30_000,
      "page 3's other applies",
    );
    expect((await backfillCursorRef(fs.db, {}).get()).get("cursor")).toEqual({ path: paths[99] });
    clock.advance(BACKFILL_LEASE_MS + 1);

    const b: BackfillReport = await backfill({ pageSize: 50 }, d);
    expect(b).toMatchObject({ complete: true, resumed: true, walked: 100 });
    // A's hung task is enqueued and not applied: B finds it enqueued, applies it, and enqueues nothing for it.
    expect(b.tasks.alreadyEnqueued).toBeGreaterThan(0);
    expect(b.tasks.enqueued + b.tasks.alreadyEnqueued + b.matching).toBe(100);

    wake();
    const stopped = await a;
    expect(stopped).toMatchObject({ complete: false, stoppedBy: "lease lost", runId: b.runId });
    const tasks = await tasksByHistoryId(fs.db);
    expect({ items: tasks.size, duplicates: noDuplicates(tasks) }).toEqual({ items: 200, duplicates: [] });
    expect(await mirrorMismatches(fs.db)).toEqual([]);
    const cursor = (await backfillCursorRef(fs.db, {}).get()).data()!;
    expect(cursor).toMatchObject({ status: "complete", walked: 200 });
    expect(cursor.leaseOwner).toBeUndefined();
  });

  it("a lease set implausibly far ahead (a holder's clock years fast, a doc written wrong) holds only a lease's time after the doc's last write", async () => {
    await seedPublic(fs.db, 20);
    const written = await backfillCursorRef(fs.db, {}).set({
      runId: "r1",
      status: "running",
      scope: { uid: null, since: null },
      leaseOwner: "fast-clock:1",
      leaseExpiresAt: Timestamp.fromDate(new Date("9999-12-31T00:00:00Z")),
    });
    const busy = await backfill();
    expect(busy).toMatchObject({ stoppedBy: "busy", walked: 0, busy: { leaseOwner: "fast-clock:1" } });
    // Busy until a lease after the doc's last write, not until the year 9999.
    expect(Date.parse(busy.busy!.leaseExpiresAt)).toBeLessThanOrEqual(Date.now() + BACKFILL_LEASE_MS);
    // Once a (shorter) lease's time passed since that write by the server's clock, the run is taken over and resumed.
    const leaseMs = 1000;
    await new Promise((r) => setTimeout(r, leaseMs + 100));
    expect(written.writeTime.toMillis() + leaseMs).toBeLessThan(Date.now());
    const resumed = await backfill({ leaseMs });
    expect(resumed).toMatchObject({ complete: true, resumed: true, runId: "r1", walked: 20 });
  });

  it("a cursor doc written wrong (a lease that is not a Timestamp, a cursor outside the scope) is read as absent, not trusted", async () => {
    await seedPublic(fs.db, 30);
    await backfillCursorRef(fs.db, {}).set({
      runId: "r1",
      status: "running",
      scope: { uid: null, since: null },
      leaseOwner: "ghost",
      leaseExpiresAt: "tomorrow",
      cursor: { path: "carts/c1/items/x" },
      walked: -5,
    });
    const report = await backfill();
    expect(report).toMatchObject({ complete: true, resumed: true, runId: "r1", walked: 30, run: { walked: 30 } });
  });
});
