/**
 * `npm run local`: the whole system on this machine. Checks the settings, starts a Firestore emulator
 * (or uses FIRESTORE_EMULATOR_HOST) and a local S3 server, seeds demo data, runs the standalone
 * workers, one pass of each scheduled worker, and prints a summary. Runs until Ctrl-C (or SIGTERM,
 * SIGHUP, a closed output), or one pass with --once. Nothing it starts outlives it, however it ends:
 * the S3 server runs in this process, the workers stop when their IPC channel to it closes, and the
 * emulator's tether (dev/emulator.ts) stops the emulator then.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { initializeApp } from "firebase-admin/app";
import { getFirestore, Timestamp, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { systemClock } from "../src/core/clock";
import { ConfigError, parseWorkerConfig } from "../src/core/config";
import { createLogger, humanLogLine } from "../src/core/logger";
import { runMediaGC } from "../src/core/mediaGC/runMediaGC";
import { refreshSignupImageCache } from "../src/core/signupCache/refreshSignupImageCache";
import { processSnapshots } from "../src/core/snapshots/processSnapshots";
import { S3MediaStore } from "../src/core/storage/mediaStore";
import { createS3Client } from "../src/core/storage/s3Client";
import { DEMO_PROJECT, readFirestoreEnv } from "../src/runtime/firestoreEnv";
import { WORKER_STARTED } from "../src/runtime/standalone";
import { ensureEmulator } from "./emulator";
import { startS3Server, type TestS3Server } from "./s3Server";
import { seedDemoData } from "./seed";

// Warnings a user of `npm run local` cannot act on: the AWS SDK's notice about its 2027 Node
// requirement, and google-auth's failed metadata-server lookup off Google Cloud.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
process.env.METADATA_SERVER_DETECTION ??= "none";

const once = process.argv.includes("--once");
const say = (line: string) => void process.stdout.write(`[local] ${line}\n`);
const LIB = join(__dirname, "../../lib");

/**
 * A standalone worker as a child process; `started` resolves once it says so over the IPC channel
 * (its log lines may be hidden by LOG_LEVEL). The channel is also how the worker knows this process
 * is alive: it stops when the channel closes.
 */
function startWorker(script: string, env: NodeJS.ProcessEnv): { child: ChildProcess; started: Promise<void> } {
  const name = script.replace(/\.js$/, "");
  const child = spawn(process.execPath, [join(LIB, "workers", script)], { env, stdio: ["ignore", "pipe", "pipe", "ipc"] });
  child.channel?.unref();
  const started = new Promise<void>((resolve) => child.on("message", (message) => message === WORKER_STARTED && resolve()));
  const show = (line: string) => {
    try {
      const entry = JSON.parse(line);
      if (entry.message === "config.loaded") return;
      say(`${name}: ${humanLogLine(entry)}`);
    } catch {
      say(`${name}: ${line}`);
    }
  };
  createInterface({ input: child.stdout! }).on("line", show);
  createInterface({ input: child.stderr! }).on("line", show);
  return { child, started };
}

const settled = (d: QueryDocumentSnapshot) => d.get("status") === "done" || d.get("status") === "failed";

/** What this run started, for `shutdown` to stop, whatever step it is at. */
const running: { workers: ChildProcess[]; s3?: TestS3Server; emulator?: { stop(): Promise<void> }; closeClient?: () => void } = {
  workers: [],
};
let stopping = false;

async function shutdown(code: number): Promise<never> {
  if (stopping) return new Promise<never>(() => undefined);
  stopping = true;
  for (const w of running.workers) w.kill("SIGTERM");
  // "close", not "exit": the workers' last log lines are still in their pipes when they exit.
  await Promise.all(running.workers.map((w) => (w.stdout!.closed ? undefined : new Promise((r) => w.once("close", r)))));
  running.closeClient?.();
  await running.s3?.dispose();
  await running.emulator?.stop();
  process.exit(code);
}

async function main(): Promise<void> {
  const started = Date.now();
  // Every setting is checked before anything starts: a bad one costs a line, not an emulator start.
  const config = parseWorkerConfig(process.env);
  const projectId = readFirestoreEnv(process.env).projectId ?? DEMO_PROJECT;

  const emulator = (running.emulator = await ensureEmulator());
  say(`Firestore emulator (${emulator.source}):`);
  say(`  FIRESTORE_EMULATOR_HOST=${emulator.hostPort} GCLOUD_PROJECT=${projectId}`);
  const s3 = (running.s3 = await startS3Server("canvas-media"));
  say(`local S3 server (media storage):`);
  say(
    `  ZATA_ENDPOINT=${s3.endpoint} ZATA_BUCKET=${s3.bucket} ZATA_ACCESS_KEY_ID=${s3.config.ZATA_ACCESS_KEY_ID} ZATA_SECRET_ACCESS_KEY=${s3.config.ZATA_SECRET_ACCESS_KEY}`,
  );
  const env = { ...process.env, GCLOUD_PROJECT: projectId, ...s3.env, WORKER_HEARTBEAT_MS: "15000" };
  const db = getFirestore(initializeApp({ projectId }));
  const client = createS3Client(s3.config);
  running.closeClient = () => client.destroy();

  // This run's tasks: a reused emulator may hold an earlier run's, which the summary must not count.
  const seededFrom = Timestamp.fromMillis(Date.now());
  const thisRunsTasks = async () => (await db.collection("mirrorQueue").where("createdAt", ">=", seededFrom).get()).docs;
  const seeded = await seedDemoData(db, client, s3.bucket);
  say(
    `seeded ${seeded.users} users, ${seeded.historyItems} history items (${seeded.publicItems} public), ${seeded.tasks} mirror tasks (1 malformed), ${seeded.projects} canvas projects, ${seeded.media} media (${seeded.garbage} garbage)`,
  );

  const start = (script: string) => {
    const { child, started } = startWorker(script, env);
    running.workers.push(child);
    child.once("exit", (code, signal) => {
      if (stopping) return;
      say(`a worker exited unexpectedly (code ${code}, signal ${signal})`);
      void shutdown(1);
    });
    return started;
  };
  await start("mirrorQueueWorker.js");
  while (!(await thisRunsTasks()).every(settled)) await new Promise((r) => setTimeout(r, 250));
  // Started once the gallery has its public generations, so its first refresh finds them.
  await start("signupImageCacheWorker.js");
  say("mirror queue settled; one pass of each scheduled worker:");

  const logger = createLogger({ sink: () => undefined });
  const deps = { db, clock: systemClock, logger, config };
  const snapshots = await processSnapshots(deps);
  say(
    `canvasSnapshots: ${snapshots.created.length} snapshots made (${snapshots.created.map((c) => `${c.projectId}@${c.opIndex}`).join(", ")})`,
  );
  const gc = await runMediaGC({ ...deps, store: new S3MediaStore(client, s3.bucket) });
  say(`canvasMediaGC: ${gc.deleted} media deleted, ${gc.bytesFreed} bytes freed, ${gc.failedCount} failed`);
  const cache = await refreshSignupImageCache(deps);
  say(`signupImageCacheRefresh: ${cache.refreshed ? `${cache.count} images cached` : `kept (${cache.reason})`}`);

  const tasks = await thisRunsTasks();
  const done = tasks.filter((d) => d.get("status") === "done").length;
  const failed = tasks.filter((d) => d.get("status") === "failed");
  const mirrored = (await db.collection("publicGenerations").get()).size;
  say(
    `summary: ${done} tasks mirrored, ${failed.length} failed (${failed.map((d) => d.get("lastError")).join("; ")}); ` +
      `${mirrored} public generations; ${snapshots.created.length} snapshots made; ${gc.deleted} media deleted, ${gc.bytesFreed} bytes freed; ` +
      `${cache.count} images cached; in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );

  if (once) return void shutdown(0);
  say("workers running; press Ctrl-C to stop. To enqueue a mirror task (from functions/, in another shell):");
  say(
    `  FIRESTORE_EMULATOR_HOST=${emulator.hostPort} GCLOUD_PROJECT=${projectId} node -e 'const { initializeApp } = require("firebase-admin/app"); ` +
      `const { getFirestore, FieldValue } = require("firebase-admin/firestore"); initializeApp(); ` +
      `getFirestore().collection("mirrorQueue").add({ op: "upsert", uid: "ana", historyId: "demo-3", status: "pending", createdAt: FieldValue.serverTimestamp() }).then((r) => console.log("enqueued", r.id))'`,
  );
}

// From the first line on: a stop requested during startup stops what has started so far.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => void shutdown(0));
// Nobody reads the output any more (`npm run local | head`): stop everything rather than run unseen.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => void shutdown(1));

main().catch((error) => {
  if (!stopping) process.stderr.write(`[local] ${error instanceof Error ? error.message : String(error)}\n`);
  // A setting or environment to fix (the line says which) exits 2, like the workers and the CLI.
  void shutdown(error instanceof ConfigError ? 2 : 1);
});
