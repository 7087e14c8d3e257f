import type { S3Client } from "@aws-sdk/client-s3";
import { Timestamp } from "firebase-admin/firestore";
import { createS3Client } from "../../src/core/storage/s3Client";
import { startS3Server, type TestS3Server } from "../../dev/s3Server";
import { appendOp, createProject } from "../harness/canvas";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { mediaExists, objectExists, putMedia } from "../harness/media";
import { enqueue, enqueueDeadLetter, enqueueNearLimit, mirrorDoc, putHistoryItem, taskDoc } from "../harness/mirrorData";
import { runCli } from "../harness/processes";

/** Every CLI command as a process against the emulator (and s3rver for gc): output and exit code. */
let fs: TestFirestore;
let server: TestS3Server;
let s3: S3Client;
let zata: Record<string, string>;
beforeAll(async () => {
  fs = createTestFirestore("cli");
  server = await startS3Server("media");
  s3 = createS3Client(server.config);
  zata = server.env;
});
beforeEach(() => fs.clear());
afterAll(async () => {
  s3.destroy();
  await server.dispose();
  await fs.close();
});

const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, fs.projectId, env);

describe("help and refusals", () => {
  it("prints usage with --help, for the tool and for every command", async () => {
    const top = await cli(["--help"]);
    expect(top.code).toBe(0);
    for (const command of ["status", "requeue", "gc", "snapshot", "signup-cache", "mirror"]) {
      expect(top.stdout).toContain(command);
      const help = await cli([command, "--help"]);
      expect({ command, code: help.code }).toEqual({ command, code: 0 });
      expect(help.stdout).toContain(`usage: workers ${command}`);
    }
  });

  it.each([
    [["explode"], 'unknown command "explode"'],
    [["gc", "--ttl-days=-3"], "--ttl-days must be >= 1"],
    [["gc", "--batch-size", "5000"], "--batch-size must be <= 1000"],
    [["gc", "--ttl-days", "ten"], '--ttl-days must be an integer, got "ten"'],
    [["gc", "--force"], "gc does not take --force"],
    [["requeue"], "requeue needs --all or at least one task id"],
    [["snapshot", "--force"], "--force needs a PROJECT_ID"],
    [["mirror", "drain", "--limit", "0"], "--limit must be >= 1"],
    [["signup-cache", "now"], "usage: workers signup-cache refresh"],
    [["snapshot", "__x__"], "PROJECT_ID must not start and end with __ (reserved by Firestore)"],
    [["snapshot", ".."], 'PROJECT_ID must not be "." or ".."'],
    [["snapshot", "p".repeat(1501)], "PROJECT_ID must be at most 1500 bytes"],
    [["requeue", "__x__"], 'task id "__x__" must not start and end with __'],
  ])("refuses %j with exit 2 before anything runs", async (args, message) => {
    const taskId = await enqueue(fs.db, { op: "remove", uid: "u", historyId: "h", status: "pending" });
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe("");
    expect((await taskDoc(fs.db, taskId)).status).toBe("pending");
  });

  it("refuses gc without storage configuration, naming the settings, and deletes nothing", async () => {
    await putMedia(fs.db, s3, server.bucket, "old", { ageDays: 45 });
    const r = await cli(["gc"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^workers: invalid storage configuration: ZATA_ENDPOINT is required; ZATA_BUCKET is required; ZATA_ACCESS_KEY_ID is required; ZATA_SECRET_ACCESS_KEY is required$/m,
    );
    expect(await mediaExists(fs.db, "old")).toBe(true);
  });

  it("refuses gc with exit 2 when the store refuses the settings (no such bucket), naming the setting, and leaves no mark", async () => {
    await putMedia(fs.db, s3, server.bucket, "old", { ageDays: 45 });
    const r = await cli(["gc"], { ...zata, ZATA_BUCKET: "no-such-bucket" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^workers: media storage refused the request \(NoSuchBucket: .*\): check ZATA_BUCKET$/m);
    expect((await fs.db.doc("canvasMedia/old").get()).get("gcState")).toBeUndefined();
  });

  it.each([
    [
      "a region the SDK cannot sign with",
      { ZATA_REGION: "us east 1!" },
      /^workers: invalid storage configuration: ZATA_REGION must be a region name/m,
    ],
    [
      "an endpoint that is not http(s)",
      { ZATA_ENDPOINT: "ftp://127.0.0.1:1" },
      /^workers: invalid storage configuration: ZATA_ENDPOINT must be a URL with http or https/m,
    ],
    [
      "https to a store that speaks http",
      { ZATA_ENDPOINT: "https-to-http" },
      /^workers: media storage refused the request \(EPROTO: .*\): check ZATA_ENDPOINT/m,
    ],
  ])("refuses gc with exit 2 for %s, naming the setting, and leaves the item free", async (_label, env, message) => {
    await putMedia(fs.db, s3, server.bucket, "old", { ageDays: 45 });
    const given: Record<string, string> = env;
    const settings = given.ZATA_ENDPOINT === "https-to-http" ? { ZATA_ENDPOINT: server.endpoint.replace("http:", "https:") } : given;
    const r = await cli(["gc"], { ...zata, ...settings });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(message) });
    expect((await fs.db.doc("canvasMedia/old").get()).get("gcState")).toBeUndefined();
  });
});

describe("status", () => {
  it("shows queue depth, dead letters with their errors, GC candidates, snapshots due and cache age", async () => {
    const now = Date.now();
    await enqueue(fs.db, { op: "remove", uid: "u", historyId: "a", status: "pending" }, now - 120_000);
    const dead = await enqueueDeadLetter(fs.db, "b", "boom: the source exploded");
    await putMedia(fs.db, s3, server.bucket, "old", { ageDays: 45 });
    await fs.db.doc("canvasProjects/p").set({ ownerUid: "o", opIndex: 150, opsSinceSnapshot: 150, updatedAt: Timestamp.now() });

    const human = await cli(["status"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("dead letters");
    expect(human.stdout).toContain(dead);
    expect(human.stdout).toContain("boom: the source exploded");
    expect(human.stdout).toContain("media GC candidates (unreferenced, older than 30 days): 1");
    expect(human.stdout).toContain("projects due a snapshot: 1 by op count");
    expect(human.stdout).toContain("signup cache: never refreshed");

    const json = await cli(["status", "--json"]);
    expect(json.code).toBe(0);
    const health = JSON.parse(json.stdout);
    expect(health.queue).toMatchObject({ depth: { pending: 1, failed: 1 }, deadLetters: { count: 1 } });
    expect(health.queue.oldestPendingAgeMs).toBeGreaterThanOrEqual(120_000);
    expect(health.mediaGC.candidates).toBe(1);
  });
});

describe("status: the media GC", () => {
  it("counts what a run would delete, and lists the media that wait for a person", async () => {
    await putMedia(fs.db, s3, server.bucket, "ok", { ageDays: 45 });
    await putMedia(fs.db, s3, server.bucket, "spaced", { ageDays: 45, storageKey: " spaced.png ", withObject: false });
    await putMedia(fs.db, s3, server.bucket, "aside", { ageDays: 45 });
    await fs.db.doc("canvasMedia/aside").update({ gcFailures: 5, gcLastError: "storage refused: AccessDenied: locked" });
    await putMedia(fs.db, s3, server.bucket, "marked", { ageDays: 45 });
    await fs.db.doc("canvasMedia/marked").update({ gcState: "deleting", gcRunId: "r", gcMarkedAt: Timestamp.now() });

    const human = await cli(["status"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("media GC candidates (unreferenced, older than 30 days): 1; left alone: ");
    expect(human.stdout).toMatch(/left alone: .*1 being-deleted/);
    expect(human.stdout).toMatch(
      /^aside\s+canvas\/owner\/aside\.png\s+set-aside\s+5 storage failures; last: storage refused: AccessDenied: locked$/m,
    );
    expect(human.stdout).toMatch(/^spaced\s+spaced\.png\s+unsafe-storageKey\s+the key has whitespace at either end$/m);
    expect(JSON.parse((await cli(["status", "--json"])).stdout).mediaGC).toMatchObject({
      candidates: 1,
      unreferencedOld: 4,
      complete: true,
    });
  });
});

describe("data cannot drive the operator's terminal: control characters are printed as escapes", () => {
  const ESC = "\u001b";
  const clear = `${ESC}[2J${ESC}[31m`;

  it("gc --dry-run and gc: ids, keys and the skipped-key warnings", async () => {
    await putMedia(fs.db, s3, server.bucket, `evil${clear}`, { ageDays: 45, storageKey: "canvas/owner/evil.png" });
    await putMedia(fs.db, s3, server.bucket, "badkey", { ageDays: 45, storageKey: `canvas/${ESC}]0;owned\u0007.png`, withObject: false });
    const dry = await cli(["gc", "--dry-run"]);
    const real = await cli(["gc"], zata);
    for (const r of [dry, real]) {
      expect({ code: r.code, stdout: r.stdout.includes(ESC), stderr: r.stderr.includes(ESC) }).toEqual({
        code: 0,
        stdout: false,
        stderr: false,
      });
    }
    expect(dry.stdout).toContain("evil\\u001b[2J\\u001b[31m");
    expect(real.stderr).toContain("storageKey=canvas/\\u001b]0;owned\\u0007.png");
  });

  it("status: dead letters' errors, and the media waiting for a person; --json escapes C1 controls too", async () => {
    await enqueueDeadLetter(fs.db, "b", `boom${clear}\nforged line`);
    await putMedia(fs.db, s3, server.bucket, `m\u009b2J`, { ageDays: 45, storageKey: ` ${ESC}[2J `, withObject: false });
    const human = await cli(["status"]);
    expect(human.code).toBe(0);
    expect(human.stdout.includes(ESC) || human.stdout.includes("\u009b")).toBe(false);
    expect(human.stdout).toContain("boom\\u001b[2J\\u001b[31m\\nforged line");
    expect(human.stdout).toContain("m\\u009b2J");
    const json = await cli(["status", "--json"]);
    expect(json.stdout.includes("\u009b")).toBe(false);
    expect(JSON.parse(json.stdout).mediaGC.needsAttention[0].id).toBe("m\u009b2J");
  });

  it("requeue and refused arguments", async () => {
    const requeue = await cli(["requeue", `t${clear}`]);
    expect({ code: requeue.code, raw: requeue.stdout.includes(ESC) }).toEqual({ code: 1, raw: false });
    expect(requeue.stdout).toContain("not dead letters (left alone): t\\u001b[2J");
    const refused = await cli(["snapshot", `__${clear}__`]);
    expect({ code: refused.code, raw: refused.stderr.includes(ESC) }).toEqual({ code: 2, raw: false });
  });
});

describe("requeue", () => {
  it("puts dead letters back to pending with attempts reset, and refuses tasks that are not dead letters", async () => {
    const dead = await enqueueDeadLetter(fs.db, "b", "boom");
    const live = await enqueue(fs.db, { op: "upsert", uid: "u", historyId: "c", status: "pending" });
    const r = await cli(["requeue", dead, live]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`requeued 1 task: ${dead}`);
    expect(r.stdout).toContain(`not dead letters (left alone): ${live}`);
    expect(await taskDoc(fs.db, dead)).toMatchObject({ status: "pending", attempts: 0, lastError: "boom" });

    await fs.db.doc(`mirrorQueue/${dead}`).update({ status: "failed", deadLetter: true, attempts: 5 });
    const all = await cli(["requeue", "--all", "--json"]);
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout)).toEqual({ requeued: [dead], notDeadLetters: [] });
  });
});

describe("gc", () => {
  it("a dry run needs no storage settings: it reads Firestore only", async () => {
    await putMedia(fs.db, s3, server.bucket, "old", { ageDays: 45, size: 2048 });
    const dry = await cli(["gc", "--dry-run"]);
    expect({ code: dry.code, stderr: dry.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(dry.stdout).toContain("dry run: 1 media would be deleted, 2.0 KiB freed");
  });

  it("a dry run prints the candidates and total bytes and deletes nothing; a real run deletes them", async () => {
    const key = await putMedia(fs.db, s3, server.bucket, "old", { ageDays: 45, size: 2048 });
    await putMedia(fs.db, s3, server.bucket, "young", { ageDays: 2 });
    const dry = await cli(["gc", "--dry-run"], zata);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("dry run: 1 media would be deleted, 2.0 KiB freed");
    expect(dry.stdout).toMatch(/old\s+canvas\/owner\/old\.png\s+2\.0 KiB\s+45/);
    expect(await objectExists(s3, server.bucket, key)).toBe(true);

    const real = await cli(["gc", "--ttl-days", "30", "--batch-size", "10"], zata);
    expect(real.code).toBe(0);
    expect(real.stdout).toContain("deleted 1 media, 2.0 KiB freed, 0 failed");
    expect(real.stderr).toContain("mediaGC.batch");
    // A real run's progress lines carry no dry-run count.
    expect(real.stderr).not.toContain("wouldDelete");
    expect(real.stderr).toMatch(/^\d\d:\d\d:\d\d media GC: candidates 1\/1 \(100%\) \S+\/s ETA 0 s \| deleted=1$/m);
    expect(await mediaExists(fs.db, "old")).toBe(false);
    expect(await objectExists(s3, server.bucket, key)).toBe(false);
  });
});

describe("snapshot, signup-cache refresh, mirror drain", () => {
  it("snapshot PROJECT_ID --force snapshots one project", async () => {
    await createProject(fs.db, "p1");
    await appendOp(fs.db, "p1", { type: "create", elementId: "a", data: { x: 1 } });
    const r = await cli(["snapshot", "p1", "--force"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("snapshots: 1 created");
    expect(r.stdout).toContain("p1: op-000000000001 (opIndex 0, 1 elements, 0 parts");
  });

  it("signup-cache refresh writes the cache", async () => {
    await fs.db
      .doc("publicGenerations/g")
      .set({ isPublic: true, isDeleted: false, aestheticScore: 9, images: [{ id: "0", url: "https://cdn/g.png" }] });
    const r = await cli(["signup-cache", "refresh"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("signup cache refreshed: 1 images");
  });

  it("mirror drain processes every due task, batch after batch, with progress lines on stderr", async () => {
    for (let i = 0; i < 7; i++) await putHistoryItem(fs.db, "u1", `h${i}`);
    for (let i = 0; i < 7; i++) await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: `h${i}` });
    const r = await cli(["mirror", "drain", "--limit", "3"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("drained: 7 done, 0 failed (will retry), 0 dead letters, 0 invalid, in 4 batches");
    // At most a line a second while it runs (not a terminal), and the last one: every task counted.
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(/^\d\d:\d\d:\d\d mirror drain: tasks 7\/7 \(100%\) \S+\/s ETA 0 s \| done=7$/);
    for (let i = 0; i < 7; i++) expect(await mirrorDoc(fs.db, `h${i}`)).toBeDefined();
  });

  it("mirror drain sets aside a task too large to claim and stops when a batch finds nothing, instead of looping", async () => {
    for (const h of ["h1", "h2"]) {
      await putHistoryItem(fs.db, "u1", h);
      await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: h });
    }
    const big = await enqueueNearLimit(fs.db, "u1", "h0");
    const r = await cli(["mirror", "drain"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("drained: 2 done, 0 failed (will retry), 1 dead letters, 0 invalid, in 2 batches");
    expect(await taskDoc(fs.db, big)).toMatchObject({ status: "failed", deadLetter: true, attempts: 1 });
  });

  it("mirror drain exits 1 when a task fails", async () => {
    await enqueue(fs.db, { op: "teleport", uid: "u1", historyId: "x" });
    const r = await cli(["mirror", "drain", "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ invalid: 1, done: 0 });
  });
});
