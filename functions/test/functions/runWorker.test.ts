import type { S3Client } from "@aws-sdk/client-s3";
import { Timestamp } from "firebase-admin/firestore";
import firebaseFunctionsTest from "firebase-functions-test";
import * as queueStatus from "../../src/core/mirror/queueStatus";
import { createS3Client } from "../../src/core/storage/s3Client";
import { startS3Server, type TestS3Server } from "../../dev/s3Server";
import { appendOp, createProject } from "../harness/canvas";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { mediaExists, objectExists, putMedia } from "../harness/media";
import { enqueue, mirrorDoc, putHistoryItem, taskDoc } from "../harness/mirrorData";
import { functionsRuntimeEnv } from "../../dev/functionsRuntime";

/** The runWorker callable as deployed, through firebase-functions-test, against the emulator and s3rver. */
let fs: TestFirestore;
let server: TestS3Server;
let s3: S3Client;
let fft: ReturnType<typeof firebaseFunctionsTest>;
let call: (data: unknown, auth?: { uid: string; token: Record<string, unknown> }) => Promise<unknown>;

beforeAll(async () => {
  fs = createTestFirestore("callable");
  server = await startS3Server("media");
  s3 = createS3Client(server.config);
  Object.assign(process.env, functionsRuntimeEnv(fs.projectId));
  Object.assign(process.env, server.env);
  fft = firebaseFunctionsTest({ projectId: fs.projectId });
  const { runWorker } = await import("../../src/index");
  const wrapped = fft.wrap(runWorker);
  call = (data, auth) => Promise.resolve(wrapped({ data, auth } as never));
});
beforeEach(() => fs.clear());
afterAll(async () => {
  fft.cleanup();
  s3.destroy();
  await server.dispose();
  await fs.close();
});

const admin = { uid: "ops-1", token: { admin: true } };
const user = { uid: "user-1", token: {} };

describe("auth", () => {
  it("rejects a call without auth as unauthenticated, and runs nothing", async () => {
    const taskId = await enqueue(fs.db, { op: "remove", uid: "u", historyId: "h", status: "pending" });
    await expect(call({ worker: "mirrorQueue" })).rejects.toMatchObject({ code: "unauthenticated" });
    expect((await taskDoc(fs.db, taskId)).status).toBe("pending");
  });

  it("rejects a signed-in user without the admin claim as permission-denied", async () => {
    await expect(call({ worker: "status" }, user)).rejects.toMatchObject({ code: "permission-denied" });
    await expect(call({ worker: "status" }, { uid: "x", token: { admin: "true" } })).rejects.toMatchObject({ code: "permission-denied" });
  });
});

describe("validation", () => {
  it.each([
    [{ worker: "explode" }, 'worker must be one of "mediaGC"'],
    [{}, "worker must be one of"],
    [null, "request data must be an object"],
    [{ worker: "mediaGC", ttlDays: -1 }, "ttlDays: ttlDays must be >= 1"],
    [{ worker: "mediaGC", ttlDays: 2.5 }, "ttlDays: ttlDays must be an integer"],
    [{ worker: "mediaGC", batchSize: 1_000_000 }, "batchSize: batchSize must be <= 1000"],
    [{ worker: "mediaGC", dryRun: "yes" }, "dryRun: dryRun must be true or false"],
    [{ worker: "mediaGC", dryRun: true, extra: 1 }, "unknown field extra"],
    [{ worker: "snapshots", projectId: "a/b" }, "projectId: projectId must be a document id"],
    [{ worker: "mirrorQueue", limit: "10" }, "limit: limit must be a number"],
    [{ worker: "status", verbose: true }, "unknown field verbose"],
    [{ worker: "snapshots", projectId: "__x__" }, "projectId: projectId must not start and end with __ (reserved by Firestore)"],
    [{ worker: "snapshots", projectId: ".." }, 'projectId: projectId must not be "." or ".."'],
    [{ worker: "snapshots", projectId: "é".repeat(751) }, "projectId: projectId must be at most 1500 bytes"],
    [{ worker: "snapshots", force: true }, "force: force needs a projectId"],
    [
      { worker: "mirrorBackfill", since: "yesterday" },
      "since: since must be an ISO 8601 date (2024-05-01) or date-time with a zone (2024-05-01T12:00:00Z)",
    ],
    [{ worker: "mirrorBackfill", since: "2024-05-01T12:00:00" }, "since: since must be an ISO 8601 date"],
    [{ worker: "mirrorBackfill", since: "2024-13-01" }, "since: since must be an ISO 8601 date"],
    [{ worker: "mirrorBackfill", since: 1714521600000 }, "since: since must be a string"],
    [{ worker: "mirrorBackfill", since: "9999-12-31T23:00:00-05:00" }, "since: since must be 9999-12-31T23:59:59.999Z or earlier"],
    [{ worker: "mirrorBackfill", since: "2024-05-01".repeat(5) }, "since: since must be an ISO 8601 date, at most 40 characters"],
    [{ worker: "mirrorBackfill", uid: "a/b" }, 'uid: uid must be a document id (no "/")'],
    [{ worker: "mirrorBackfill", uid: "__x__" }, "uid: uid must not start and end with __"],
    [{ worker: "mirrorBackfill", dryRun: "yes" }, "dryRun: dryRun must be true or false"],
    [{ worker: "mirrorBackfill", rate: 10 }, "unknown field rate"],
    [{ worker: "mirrorVerify", repair: 1 }, "repair: repair must be true or false"],
    [{ worker: "mirrorVerify", uid: "u1" }, "unknown field uid"],
  ])("rejects %j with invalid-argument naming the field", async (data, message) => {
    const error = await call(data, admin).then(
      () => undefined,
      (e) => e,
    );
    expect(error).toMatchObject({ code: "invalid-argument" });
    expect(error.message).toContain(message);
  });

  it("runs nothing on a rejected call", async () => {
    const key = await putMedia(fs.db, s3, server.bucket, "old", { ageDays: 400 });
    await expect(call({ worker: "mediaGC", ttlDays: 0 }, admin)).rejects.toMatchObject({ code: "invalid-argument" });
    expect(await mediaExists(fs.db, "old")).toBe(true);
    expect(await objectExists(s3, server.bucket, key)).toBe(true);
  });
});

describe("runs", () => {
  it("mediaGC dry run reports what it would delete and deletes nothing; a real run deletes it", async () => {
    const key = await putMedia(fs.db, s3, server.bucket, "old", { ageDays: 40, size: 123 });
    const dry = (await call({ worker: "mediaGC", dryRun: true }, admin)) as { candidates: unknown[]; bytesFreed: number };
    expect(dry).toMatchObject({ dryRun: true, candidates: [{ id: "old", storageKey: key, size: 123, ageDays: 40 }], bytesFreed: 123 });
    expect(await mediaExists(fs.db, "old")).toBe(true);
    const real = await call({ worker: "mediaGC", ttlDays: 30, batchSize: 10 }, admin);
    expect(real).toMatchObject({ dryRun: false, deleted: 1, bytesFreed: 123 });
    expect(await objectExists(s3, server.bucket, key)).toBe(false);
  });

  it("snapshots one project on demand with force", async () => {
    await createProject(fs.db, "p1");
    await appendOp(fs.db, "p1", { type: "create", elementId: "a", data: { x: 1 } });
    await fs.db.doc("canvasProjects/p1").update({ lastSnapshotAt: Timestamp.now(), lastSnapshotOpIndex: -1 });
    expect(await call({ worker: "snapshots", projectId: "p1" }, admin)).toMatchObject({
      created: [],
      skipped: [{ projectId: "p1", reason: "not-due" }],
    });
    expect(await call({ worker: "snapshots", projectId: "p1", force: true }, admin)).toMatchObject({
      created: [{ projectId: "p1", opIndex: 0 }],
    });
  });

  it("signupImageCache refreshes the cache", async () => {
    await fs.db
      .doc("publicGenerations/g")
      .set({ isPublic: true, isDeleted: false, aestheticScore: 9, images: [{ id: "0", url: "https://cdn/g.png" }] });
    expect(await call({ worker: "signupImageCache" }, admin)).toMatchObject({ refreshed: true, count: 1 });
    expect((await fs.db.doc("signupImageCache/current").get()).get("count")).toBe(1);
  });

  it("mirrorQueue processes pending tasks up to the limit", async () => {
    await putHistoryItem(fs.db, "u1", "h1");
    const taskId = await enqueue(fs.db, { op: "upsert", uid: "u1", historyId: "h1" });
    expect(await call({ worker: "mirrorQueue", limit: 5 }, admin)).toMatchObject({ found: 1, byStatus: { done: 1 } });
    expect((await taskDoc(fs.db, taskId)).status).toBe("done");
    expect(await mirrorDoc(fs.db, "h1")).toBeDefined();
  });

  it("mirrorBackfill: a dry run reports what it would enqueue; a run of one user's items updated since a date enqueues upserts for the trigger to apply", async () => {
    await putHistoryItem(fs.db, "u1", "old", { updatedAt: Timestamp.fromMillis(Date.parse("2024-04-30T00:00:00Z")) });
    await putHistoryItem(fs.db, "u1", "new", { updatedAt: Timestamp.fromMillis(Date.parse("2024-05-02T00:00:00Z")) });
    await putHistoryItem(fs.db, "u2", "other", { updatedAt: Timestamp.fromMillis(Date.parse("2024-05-02T00:00:00Z")) });
    const dry = await call({ worker: "mirrorBackfill", dryRun: true }, admin);
    expect(dry).toMatchObject({ dryRun: true, complete: true, walked: 3, tasks: { enqueued: 3 }, drift: { missing: { count: 3 } } });
    expect((await fs.db.collection("mirrorQueue").get()).size).toBe(0);

    const run = await call({ worker: "mirrorBackfill", uid: "u1", since: "2024-05-01T00:00:00+00:00" }, admin);
    expect(run).toMatchObject({
      complete: true,
      scope: { uid: "u1", since: "2024-05-01T00:00:00.000Z" },
      walked: 1,
      tasks: { enqueued: 1 },
    });
    expect((run as { tasks: Record<string, unknown> }).tasks.applied).toBeUndefined();
    const tasks = await fs.db.collection("mirrorQueue").get();
    expect(tasks.docs.map((d) => d.data())).toEqual([
      expect.objectContaining({ op: "upsert", uid: "u1", historyId: "new", status: "pending" }),
    ]);
    await call({ worker: "mirrorQueue" }, admin);
    expect(await mirrorDoc(fs.db, "new")).toMatchObject({ uid: "u1", historyId: "new" });
    expect(await mirrorDoc(fs.db, "old")).toBeUndefined();
  });

  it("mirrorVerify reports the drift; with repair it enqueues the fixes", async () => {
    await putHistoryItem(fs.db, "u1", "h1");
    await fs.db.doc("publicGenerations/gone").set({ uid: "u1", historyId: "gone", prompt: "orphan" });
    const report = await call({ worker: "mirrorVerify" }, admin);
    expect(report).toMatchObject({
      inSync: false,
      driftCount: 2,
      drift: { missing: { count: 1 }, sourceGone: { count: 1, sample: [{ uid: "u1", historyId: "gone" }] } },
    });
    const repaired = await call({ worker: "mirrorVerify", repair: true }, admin);
    expect(repaired).toMatchObject({ repair: { enqueued: 2, unrepairable: 0 } });
    await call({ worker: "mirrorQueue" }, admin);
    expect(await call({ worker: "mirrorVerify" }, admin)).toMatchObject({ inSync: true, driftCount: 0 });
  });

  it("logs each call with the caller's uid, the request and its origin, and never the storage secret", async () => {
    const lines: string[] = [];
    const previous = process.env.LOG_LEVEL;
    process.env.LOG_LEVEL = "INFO";
    // Deployed functions log through firebase-functions/logger (runtime/functionsLogSink.ts).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const spy = jest.spyOn(require("firebase-functions/logger"), "write").mockImplementation((entry) => {
      lines.push(JSON.stringify(entry));
    });
    try {
      await call({ worker: "mediaGC", dryRun: true, ttlDays: 45 }, admin);
      // A real run reads the storage settings, secret included.
      await call({ worker: "mediaGC" }, admin);
    } finally {
      spy.mockRestore();
      process.env.LOG_LEVEL = previous;
    }
    const entry = lines.map((l) => JSON.parse(l)).find((e) => e.message === "runWorker.called");
    expect(entry).toMatchObject({
      severity: "INFO",
      uid: "ops-1",
      request: { worker: "mediaGC", dryRun: true, ttlDays: 45 },
      entryPoint: "runWorker",
      worker: "mediaGC",
    });
    expect(lines.map((l) => JSON.parse(l).message)).toContain("mediaGC.completed");
    expect(lines.filter((l) => l.includes(server.config.ZATA_SECRET_ACCESS_KEY))).toEqual([]);
  });

  it("status reports depth by status, dead letters, oldest pending age and expired leases", async () => {
    const now = Date.now();
    await enqueue(fs.db, { op: "remove", uid: "u", historyId: "a", status: "pending" }, now - 60_000);
    await enqueue(fs.db, { op: "remove", uid: "u", historyId: "b", status: "pending" }, now - 1000);
    const dead = await enqueue(fs.db, {
      op: "remove",
      uid: "u",
      historyId: "c",
      status: "failed",
      deadLetter: true,
      attempts: 5,
      lastError: "boom",
      failedAt: Timestamp.now(),
    });
    const stuck = await enqueue(fs.db, {
      op: "remove",
      uid: "u",
      historyId: "d",
      status: "processing",
      attempts: 1,
      leaseOwner: "w",
      leaseExpiresAt: Timestamp.fromMillis(now - 1000),
    });
    const status = (await call({ worker: "status" }, admin)) as { oldestPendingAgeMs: number };
    expect(status).toMatchObject({
      depth: { pending: 2, processing: 1, done: 0, failed: 1 },
      deadLetters: { count: 1, recent: [{ taskId: dead, attempts: 5, lastError: "boom" }] },
      expiredLeases: { count: 1, taskIds: [stuck] },
      manyAttempts: { threshold: 3, count: 1 },
    });
    expect(status.oldestPendingAgeMs).toBeGreaterThanOrEqual(60_000);
  });
});

describe("errors a caller can act on", () => {
  /** A fresh copy of the deployed callable (its storage client is built once per instance) under `env`. */
  async function withRunWorker(env: Record<string, string | undefined>, body: (run: (data: unknown) => Promise<unknown>) => Promise<void>) {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    for (const [k, v] of Object.entries(env))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    try {
      await jest.isolateModulesAsync(async () => {
        const { runWorker: fresh } = await import("../../src/callable/runWorker");
        const { deleteApp, getApps } = await import("firebase-admin/app");
        const wrapped = fft.wrap(fresh);
        try {
          await body((data) => Promise.resolve(wrapped({ data, auth: admin } as never)));
        } finally {
          await Promise.all(getApps().map((a) => deleteApp(a)));
        }
      });
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  }
  const rejection = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e) => e,
    );
  const noZata = { ZATA_ENDPOINT: undefined, ZATA_BUCKET: undefined, ZATA_ACCESS_KEY_ID: undefined, ZATA_SECRET_ACCESS_KEY: undefined };

  it("a GC without ZATA_* settings is failed-precondition naming them, and deletes nothing; a dry run needs none", async () => {
    const key = await putMedia(fs.db, s3, server.bucket, "old", { ageDays: 40, size: 7 });
    await withRunWorker(noZata, async (run) => {
      const error = await rejection(run({ worker: "mediaGC" }));
      expect(error).toMatchObject({ code: "failed-precondition" });
      for (const name of ["ZATA_ENDPOINT", "ZATA_BUCKET", "ZATA_ACCESS_KEY_ID", "ZATA_SECRET_ACCESS_KEY"])
        expect(error.message).toContain(name);
      expect(await run({ worker: "mediaGC", dryRun: true })).toMatchObject({
        dryRun: true,
        candidates: [{ id: "old", storageKey: key, size: 7 }],
      });
    });
    expect(await mediaExists(fs.db, "old")).toBe(true);
    expect(await objectExists(s3, server.bucket, key)).toBe(true);
  });

  it("a GC whose bucket does not exist is failed-precondition naming ZATA_BUCKET", async () => {
    await putMedia(fs.db, s3, server.bucket, "old", { ageDays: 40 });
    await withRunWorker({ ZATA_BUCKET: "no-such-bucket" }, async (run) => {
      const error = await rejection(run({ worker: "mediaGC" }));
      expect(error).toMatchObject({ code: "failed-precondition", message: expect.stringMatching(/NoSuchBucket.*check ZATA_BUCKET/) });
    });
    expect((await fs.db.doc("canvasMedia/old").get()).get("gcState")).toBeUndefined();
  });

  it.each([
    ["a region the SDK cannot sign with", { ZATA_REGION: "us east 1!" }, /ZATA_REGION must be a region name/],
    ["an endpoint that is not http(s)", { ZATA_ENDPOINT: "ftp://127.0.0.1:1" }, /ZATA_ENDPOINT must be a URL with http or https/],
    ["a bucket name with a slash", { ZATA_BUCKET: "media/x" }, /ZATA_BUCKET must be a bucket name/],
    ["https to a store that speaks http", { ZATA_ENDPOINT: "https-to-http" }, /EPROTO.*check ZATA_ENDPOINT/],
  ])("%s is failed-precondition naming the setting, and leaves the item free", async (_label, env, message) => {
    const key = await putMedia(fs.db, s3, server.bucket, "old", { ageDays: 40 });
    const given: Record<string, string> = env;
    const settings = given.ZATA_ENDPOINT === "https-to-http" ? { ZATA_ENDPOINT: server.endpoint.replace("http:", "https:") } : given;
    await withRunWorker(settings, async (run) => {
      const error = await rejection(run({ worker: "mediaGC" }));
      expect(error).toMatchObject({ code: "failed-precondition", message: expect.stringMatching(message) });
    });
    expect((await fs.db.doc("canvasMedia/old").get()).get("gcState")).toBeUndefined();
    expect(await objectExists(s3, server.bucket, key)).toBe(true);
  });

  it("any other failure is internal, with a correlation id that the log line holding the stack carries too", async () => {
    // Deployed functions log through firebase-functions/logger (runtime/functionsLogSink.ts).
    const entries: Record<string, unknown>[] = [];
    const written = jest
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      .spyOn(require("firebase-functions/logger"), "write")
      .mockImplementation((entry) => void entries.push(entry as Record<string, unknown>));
    const failing = jest.spyOn(queueStatus, "getQueueStatus").mockRejectedValueOnce(new TypeError("status exploded"));
    let error;
    try {
      error = await rejection(call({ worker: "status" }, admin));
    } finally {
      written.mockRestore();
      failing.mockRestore();
    }
    expect(error).toMatchObject({ code: "internal", details: { correlationId: expect.stringMatching(/^[0-9a-f-]{36}$/) } });
    const { correlationId } = error.details;
    expect(error.message).toContain(correlationId);
    expect(error.message).not.toContain("status exploded");
    const entry = entries.find((e) => String(e.message).startsWith("runWorker.failed")) as { error: { stack: string }; message: string };
    expect(entry).toMatchObject({
      severity: "ERROR",
      correlationId,
      uid: admin.uid,
      request: { worker: "status" },
      error: { name: "TypeError", message: "status exploded" },
    });
    // Error Reporting reads the stack from the message.
    expect(entry.message).toContain("TypeError: status exploded");
    expect(entry.error.stack).toContain("status exploded");
  });
});
