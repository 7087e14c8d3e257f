import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { Timestamp, type Firestore } from "firebase-admin/firestore";
import { runBackfill } from "../../src/core/mirror/backfill";
import { BACKFILL_LEASE_MS, backfillCursorRef } from "../../src/core/mirror/backfillCursor";
import { processMirrorTask } from "../../src/core/mirror/processMirrorTask";
import { ManualClock, testDeps } from "../harness/deps";
import { createTestFirestore, emulatorHost, eventually, type TestFirestore } from "../harness/firestore";
import { mirrorMismatches } from "../harness/mirrorCheck";
import { historyItem, putHistoryItem } from "../harness/mirrorData";
import { killAll, LIB, measureStart, Pace, runCli, startCli, type WorkerProcess } from "../harness/processes";

/**
 * `workers mirror backfill` and `workers mirror verify` as processes: reports, exit codes, progress
 * on stderr (plain lines when it is not a terminal, a bar in a pseudo-terminal), and a backfill
 * stopped by a real SIGTERM that the next run resumes.
 */
let fs: TestFirestore;
let started: WorkerProcess[] = [];
/** Waits on a CLI run: it has started and walked a page within this many ms (Pace). */
let runMovesMs: number;
beforeAll(async () => {
  runMovesMs = Pace.STALL_STARTS * (await measureStart());
});
// A project of its own per test (workerProcesses.test.ts says why): a test kills a run mid-transaction.
beforeEach(() => {
  fs = createTestFirestore("mirror-cli");
});
afterEach(async () => {
  await killAll(started);
  started = [];
  await fs.close();
});

const cli = (args: string[]) => runCli(args, fs.projectId);
// eslint-disable-next-line no-control-regex
const ESCAPE = /\x1b\[/;
const PLAIN_PROGRESS = /^\d\d:\d\d:\d\d mirror backfill: history items (\d[\d,]*)\/([\d,]+) \(\d+%\) (-|[\d.,]+)\/s/;

/** `n` items of 3 users: every `publicEvery`-th public (it needs a task), the others private (reads only). */
async function seed(db: Firestore, n: number, publicEvery = 1): Promise<void> {
  const writer = db.bulkWriter();
  for (let i = 0; i < n; i++) {
    const id = `h${String(i).padStart(5, "0")}`;
    writer.set(db.doc(`generationHistory/u${i % 3}/items/${id}`), historyItem(`u${i % 3}`, id, { isPublic: i % publicEvery === 0 }));
  }
  await writer.close();
}

/** The CLI running `args`, once it has written its first progress line (it is walking). */
async function startWalking(args: string[]): Promise<WorkerProcess> {
  const child = startCli(args, fs.projectId);
  started.push(child);
  await eventually(
    async () => child.lines.stderr.filter((l) => PLAIN_PROGRESS.test(l)).length,
    (lines) => lines >= 1,
    runMovesMs,
    "a progress line",
  );
  return child;
}

/** `first`, a backfill of `seed(db, 1500, 10)`, stopped cleanly: it said so, saved its cursor and gave the lease up; the next run resumes it to the end. */
async function expectStoppedThenResumed(first: WorkerProcess): Promise<void> {
  expect(first.lines.stdout.join("\n")).toContain("stopped (signal): run it again to go on from where it stopped");
  const saved = (await backfillCursorRef(fs.db, {}).get()).data()!;
  expect(saved).toMatchObject({ status: "stopped", stoppedBy: "signal" });
  expect(saved.leaseOwner).toBeUndefined();
  const second = await cli(["mirror", "backfill", "--rate", "5000", "--json"]);
  expect(second.code).toBe(0);
  expect(JSON.parse(second.stdout)).toMatchObject({ resumed: true, complete: true, run: { walked: 1500, enqueued: 150 } });
}

describe("mirror backfill", () => {
  it("publishes what is missing, prints the report, progress lines on stderr (not a terminal: no escape codes), exit 0", async () => {
    await seed(fs.db, 40, 4);
    const r = await cli(["mirror", "backfill", "--rate", "5000"]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(r.stdout).toMatch(/^backfill \(every item\) [0-9a-f-]{36}: complete\n/);
    expect(r.stdout).toContain("walked 40 docs");
    expect(r.stdout).toContain("0 in line, 30 not public");
    expect(r.stdout).toContain("enqueued 10 upsert tasks");
    expect(r.stdout).toContain("applied here: 10 published");
    expect(r.stdout).toContain("missing (public items without a mirror doc): 10");
    const progress = r.stderr.split("\n").filter((l) => PLAIN_PROGRESS.test(l));
    expect(progress.at(-1)).toMatch(/ 40\/40 \(100%\) .*\| enqueued=10 notPublic=30 missing=10$/);
    expect(r.stderr).not.toMatch(ESCAPE);
    expect(await mirrorMismatches(fs.db)).toEqual([]);
  });

  it("--dry-run --json: the report as JSON, what would change, and nothing changed", async () => {
    await seed(fs.db, 6, 2);
    const r = await cli(["mirror", "backfill", "--dry-run", "--json", "--uid", "u1"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      dryRun: true,
      complete: true,
      scope: { uid: "u1", since: null },
      walked: 2,
      tasks: { enqueued: 1 },
      drift: { missing: { count: 1, sample: [{ uid: "u1", historyId: "h00004" }] } },
    });
    expect((await fs.db.collection("mirrorQueue").get()).size).toBe(0);
  });

  it("a --uid with no items (a typo, a user that does not exist) or a --since in the future completes, saying it found nothing", async () => {
    await seed(fs.db, 6);
    const nobody = await cli(["mirror", "backfill", "--uid", "nobody"]);
    expect(nobody.code).toBe(0);
    expect(nobody.stdout).toMatch(/^backfill \(uid nobody\) [0-9a-f-]{36}: complete\n/);
    expect(nobody.stdout).toContain("\nno history items in this scope (is the uid right?)\n");
    const future = await cli(["mirror", "backfill", "--since", "2999-01-01"]);
    expect(future.code).toBe(0);
    expect(future.stdout).toContain("\nno history items in this scope\n");
    expect((await fs.db.collection("mirrorQueue").get()).size).toBe(0);
  });

  it("--since takes an ISO date", async () => {
    await putHistoryItem(fs.db, "u1", "old", { updatedAt: Timestamp.fromMillis(Date.parse("2024-04-30T23:59:59Z")) });
    await putHistoryItem(fs.db, "u1", "new", { updatedAt: Timestamp.fromMillis(Date.parse("2024-05-01T00:00:00Z")) });
    const r = await cli(["mirror", "backfill", "--since", "2024-05-01", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ scope: { since: "2024-05-01T00:00:00.000Z" }, walked: 1, tasks: { enqueued: 1 } });
  });

  it("stopped by SIGTERM mid-run: saves its cursor and exits 1; the next run resumes where it stopped and completes (exit 0)", async () => {
    const n = 1500;
    await seed(fs.db, n, 10);
    // At 50 items a second the walk takes 30 s however fast the machine: the signal comes long before its end.
    const first = await startWalking(["mirror", "backfill", "--rate", "50"]);
    first.child.kill("SIGTERM");
    const exit = await first.exited;
    const out = first.lines.stdout.join("\n");
    expect({ exit, out }).toEqual({
      exit: { code: 1, signal: null },
      out: expect.stringContaining("stopped (signal): run it again to go on from where it stopped"),
    });
    expect(first.lines.stderr.join("\n")).toContain("SIGTERM: stopping after the page in hand");
    const saved = (await backfillCursorRef(fs.db, {}).get()).data()!;
    expect(saved).toMatchObject({ status: "stopped", stoppedBy: "signal" });
    expect(saved.walked).toBeGreaterThan(0);
    expect(saved.walked).toBeLessThan(n);
    expect(saved.leaseOwner).toBeUndefined();

    const second = await cli(["mirror", "backfill", "--rate", "5000", "--json"]);
    expect(second.code).toBe(0);
    const report = JSON.parse(second.stdout);
    expect(report).toMatchObject({ resumed: true, complete: true, walked: n - saved.walked, run: { walked: n, enqueued: n / 10 } });
    expect(await mirrorMismatches(fs.db)).toEqual([]);
    expect((await fs.db.collection("mirrorQueue").get()).size).toBe(n / 10);
  });

  it("a dry run stopped by SIGTERM says it starts over next time: it keeps no cursor", async () => {
    await seed(fs.db, 1500, 10);
    const first = await startWalking(["mirror", "backfill", "--dry-run", "--rate", "50"]);
    first.child.kill("SIGTERM");
    expect(await first.exited).toEqual({ code: 1, signal: null });
    const out = first.lines.stdout.join("\n");
    expect(out).toMatch(
      /^backfill dry run \(every item\) [0-9a-f-]{36}: stopped \(signal\): a dry run keeps no cursor, run it again to start over\n/,
    );
    expect(out).not.toContain("go on from where it stopped");
    expect((await fs.db.collection("workerState").get()).size).toBe(0);
  });

  it("a second SIGTERM stops at once and gives the lease up, held meanwhile by cli@host:pid: a run started right after is not refused", async () => {
    await seed(fs.db, 1500, 10);
    const first = startCli(["mirror", "backfill", "--rate", "50"], fs.projectId);
    started.push(first);
    const held = await eventually(
      async () => (await backfillCursorRef(fs.db, {}).get()).get("leaseOwner") as unknown,
      (owner) => typeof owner === "string",
      runMovesMs,
      "the lease",
    );
    expect(held).toMatch(new RegExp(`^cli@[^:]+:${first.child.pid}:`));
    first.child.kill("SIGTERM");
    first.child.kill("SIGTERM");
    const exit = await first.exited;
    expect(exit).toEqual({ code: 1, signal: null });
    await expectStoppedThenResumed(first);
  });

  it("its stderr closed mid-run (a pipe into `head`): stops after the page in hand and gives the lease up, instead of dying holding it", async () => {
    await seed(fs.db, 1500, 10);
    const first = await startWalking(["mirror", "backfill", "--rate", "50"]);
    first.child.stderr!.destroy();
    expect(await first.exited).toEqual({ code: 1, signal: null });
    await expectStoppedThenResumed(first);
  });

  it("killed with SIGKILL mid-run: its lease holds the next run off until it runs out, which then resumes from the last saved cursor, nothing lost or enqueued twice", async () => {
    const n = 1500;
    await seed(fs.db, n, 10);
    const first = startCli(["mirror", "backfill", "--rate", "50"], fs.projectId);
    started.push(first);
    await eventually(
      async () => ((await backfillCursorRef(fs.db, {}).get()).get("walked") as number | undefined) ?? 0,
      (walked) => walked > 0,
      runMovesMs,
      "a saved cursor",
    );
    first.child.kill("SIGKILL");
    expect(await first.exited).toEqual({ code: null, signal: "SIGKILL" });
    const saved = (await backfillCursorRef(fs.db, {}).get()).data()!;
    expect(saved).toMatchObject({ status: "running", leaseOwner: expect.stringMatching(new RegExp(`^cli@[^:]+:${first.pid}:`)) });
    expect(saved.walked).toBeLessThan(n);

    const refused = await cli(["mirror", "backfill", "--json"]);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ stoppedBy: "busy", walked: 0, busy: { leaseOwner: saved.leaseOwner } });

    // A minute later (the clock moved past the lease), the next run resumes the same run from the saved cursor.
    const clock = new ManualClock(Date.now() + BACKFILL_LEASE_MS + 1000);
    const d = testDeps(fs.db, { clock });
    const resumed = await runBackfill(d, { rate: 5000, apply: (id) => processMirrorTask(testDeps(fs.db), id) });
    expect(resumed).toMatchObject({ resumed: true, complete: true, walked: n - saved.walked, run: { walked: n } });
    expect(resumed.tasks.notDoneCount).toBe(0);
    const tasks = (await fs.db.collection("mirrorQueue").get()).docs.map((t) => t.get("historyId") as string);
    expect({ tasks: tasks.length, distinct: new Set(tasks).size }).toEqual({ tasks: n / 10, distinct: n / 10 });
    expect(await mirrorMismatches(fs.db)).toEqual([]);
  });

  it("exits 1 saying who holds the lease when another run holds it", async () => {
    await seed(fs.db, 3);
    const until = Timestamp.fromMillis(Date.now() + 60_000);
    await backfillCursorRef(fs.db, {}).set({
      runId: "r",
      status: "running",
      scope: { uid: null, since: null },
      leaseOwner: "other-host:1",
      leaseExpiresAt: until,
    });
    const r = await cli(["mirror", "backfill"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      `backfill (every item) not started: another run holds its cursor until ${until.toDate().toISOString()} (other-host:1); run it again after that\n`,
    );
    expect((await fs.db.collection("mirrorQueue").get()).size).toBe(0);
  });
});

describe("mirror verify", () => {
  it("exit 0 in sync; exit 1 listing the drift; --repair fixes it; then exit 0", async () => {
    await seed(fs.db, 12, 2);
    expect((await cli(["mirror", "backfill", "--rate", "5000"])).code).toBe(0);
    const clean = await cli(["mirror", "verify"]);
    expect({ code: clean.code, out: clean.stdout }).toEqual({
      code: 0,
      out: expect.stringMatching(/^in sync: 12 history items and 6 mirror docs compared in/),
    });

    await fs.db.doc("publicGenerations/h00000").update({ prompt: "edited" });
    await fs.db.doc("publicGenerations/h00002").delete();
    const drift = await cli(["mirror", "verify"]);
    expect(drift.code).toBe(1);
    expect(drift.stdout).toContain("drift: 2 found");
    expect(drift.stdout).toContain("missing (public items without a mirror doc): 1\n  u2/h00002");
    expect(drift.stdout).toContain("differs (mirror docs whose fields differ from their item's): 1\n  u0/h00000: prompt");

    const repair = await cli(["mirror", "verify", "--repair", "--json"]);
    expect(repair.code).toBe(1);
    expect(JSON.parse(repair.stdout)).toMatchObject({ driftCount: 2, repair: { enqueued: 2, applied: { byOutcome: { published: 2 } } } });
    expect((await cli(["mirror", "verify"])).code).toBe(0);
  });

  it("draws a bar with counts, rate and ETA in a terminal (a pseudo-terminal, through script)", async () => {
    await seed(fs.db, 30, 2);
    expect((await cli(["mirror", "backfill", "--rate", "5000"])).code).toBe(0);
    const command = `${process.execPath} ${join(LIB, "cli", "workers.js")} mirror verify --rate 40`;
    const { stdout } = await promisify(execFile)("script", ["-qefc", command, "/dev/null"], {
      env: { ...process.env, FIRESTORE_EMULATOR_HOST: emulatorHost(), GCLOUD_PROJECT: fs.projectId },
    });
    expect(stdout).toContain("\x1b[?25l"); // the cursor hidden while the bar is drawn, and shown again
    expect(stdout).toContain("\x1b[?25h");
    expect(stdout).toMatch(/mirror verify: history items \|\u2588+\| 100% 30\/30 \| [\d.-]+\/s \| ETA /);
    expect(stdout).toMatch(/mirror verify: mirror docs \|\u2588+\| 100% 15\/15/);
    expect(stdout).toContain("in sync: 30 history items and 15 mirror docs compared in");
  });
});

describe("refusals", () => {
  it.each([
    [["mirror", "backfill", "--since", "yesterday"], "--since must be an ISO 8601 date (2024-05-01) or date-time with a zone"],
    [["mirror", "backfill", "--since", "2024-02-30"], "--since must be an ISO 8601 date"],
    [["mirror", "backfill", "--since", "1969-12-31"], "--since must be 1970-01-01 or later"],
    [["mirror", "backfill", "--since", "9999-12-31T23:00:00-05:00"], "--since must be 9999-12-31T23:59:59.999Z or earlier"],
    [["mirror", "backfill", "--rate", "0"], "--rate must be from 1 to 5000"],
    [["mirror", "backfill", "--rate", "fast"], '--rate must be an integer, got "fast"'],
    [["mirror", "backfill", "--uid", "__x__"], "--uid must not start and end with __"],
    [["mirror", "backfill", "--repair"], "mirror backfill does not take --repair"],
    [["mirror", "verify", "--uid", "u1"], "mirror verify does not take --uid"],
    [["mirror", "backfill", "now"], "mirror backfill takes no arguments"],
    [["mirror", "explode"], 'unknown subcommand "mirror explode"'],
    [["mirror"], "mirror needs a subcommand"],
  ])("%j exits 2 before anything runs", async (args, message) => {
    await seed(fs.db, 2);
    const r = await cli(args);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: "" });
    // The message names the option once, first on the line.
    expect(r.stderr.startsWith(`workers: ${message}`)).toBe(true);
    expect((await fs.db.collection("workerState").get()).size).toBe(0);
  });
});
