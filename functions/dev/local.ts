/**
 * `npm run local`: the whole system on this machine. Starts a Firestore emulator (or uses
 * FIRESTORE_EMULATOR_HOST) and a local S3 server, seeds demo data, runs the standalone workers,
 * one pass of each scheduled worker, and prints a summary. Runs until Ctrl-C, or one pass with --once.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { initializeApp } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";
import { systemClock } from "../src/core/clock";
import { parseWorkerConfig } from "../src/core/config";
import { createLogger, humanLogLine } from "../src/core/logger";
import { runMediaGC } from "../src/core/mediaGC/runMediaGC";
import { refreshSignupImageCache } from "../src/core/signupCache/refreshSignupImageCache";
import { processSnapshots } from "../src/core/snapshots/processSnapshots";
import { S3MediaStore } from "../src/core/storage/mediaStore";
import { createS3Client } from "../src/core/storage/s3Client";
import { ensureEmulator } from "./emulator";
import { startS3Server } from "./s3Server";
import { seedDemoData } from "./seed";

// Warnings a user of `npm run local` cannot act on: the AWS SDK's notice about its 2027 Node
// requirement, and google-auth's failed metadata-server lookup off Google Cloud.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
process.env.METADATA_SERVER_DETECTION ??= "none";

const once = process.argv.includes("--once");
const projectId = process.env.GCLOUD_PROJECT ?? "demo-workers";
const say = (line: string) => process.stdout.write(`[local] ${line}\n`);
const LIB = join(__dirname, "../../lib");

/** A standalone worker as a child process; `started` resolves once it has logged `worker.started`. */
function startWorker(script: string, env: NodeJS.ProcessEnv): { child: ChildProcess; started: Promise<void> } {
  const name = script.replace(/\.js$/, "");
  const child = spawn(process.execPath, [join(LIB, "workers", script)], { env, stdio: ["ignore", "pipe", "pipe"] });
  let onStarted = () => {};
  const started = new Promise<void>((resolve) => (onStarted = resolve));
  const show = (line: string) => {
    try {
      const entry = JSON.parse(line);
      if (entry.message === "worker.started") onStarted();
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

async function queueSettled(db: Firestore): Promise<boolean> {
  const tasks = await db.collection("mirrorQueue").get();
  return tasks.docs.every((d) => d.get("status") === "done" || d.get("status") === "failed");
}

async function main(): Promise<void> {
  const started = Date.now();
  const emulator = await ensureEmulator();
  say(`Firestore emulator (${emulator.source}):`);
  say(`  FIRESTORE_EMULATOR_HOST=${emulator.hostPort} GCLOUD_PROJECT=${projectId}`);
  const s3 = await startS3Server("canvas-media");
  say(`local S3 server (media storage):`);
  say(`  ZATA_ENDPOINT=${s3.endpoint} ZATA_BUCKET=${s3.bucket} ZATA_ACCESS_KEY_ID=${s3.config.ZATA_ACCESS_KEY_ID} ZATA_SECRET_ACCESS_KEY=${s3.config.ZATA_SECRET_ACCESS_KEY}`);
  const env = { ...process.env, GCLOUD_PROJECT: projectId, ...s3.env, WORKER_HEARTBEAT_MS: "15000" };
  const db = getFirestore(initializeApp({ projectId }));
  const client = createS3Client(s3.config);

  const seeded = await seedDemoData(db, client, s3.bucket);
  say(`seeded ${seeded.users} users, ${seeded.historyItems} history items (${seeded.publicItems} public), ${seeded.tasks} mirror tasks (1 malformed), ${seeded.projects} canvas projects, ${seeded.media} media (${seeded.garbage} garbage)`);

  const workers: ChildProcess[] = [];
  let stopping = false;
  const start = (script: string) => {
    const { child, started } = startWorker(script, env);
    workers.push(child);
    child.once("exit", (code, signal) => {
      if (stopping) return;
      say(`a worker exited unexpectedly (code ${code}, signal ${signal})`);
      void shutdown(1);
    });
    return started;
  };
  await start("mirrorQueueWorker.js");
  while (!(await queueSettled(db))) await new Promise((r) => setTimeout(r, 250));
  // Started once the gallery has its public generations, so its first refresh finds them.
  await start("signupImageCacheWorker.js");
  say("mirror queue settled; one pass of each scheduled worker:");

  const config = parseWorkerConfig(process.env);
  const logger = createLogger({ sink: () => undefined });
  const deps = { db, clock: systemClock, logger, config };
  const snapshots = await processSnapshots(deps);
  say(`canvasSnapshots: ${snapshots.created.length} snapshots made (${snapshots.created.map((c) => `${c.projectId}@${c.opIndex}`).join(", ")})`);
  const gc = await runMediaGC({ ...deps, store: new S3MediaStore(client, s3.bucket) });
  say(`canvasMediaGC: ${gc.deleted} media deleted, ${gc.bytesFreed} bytes freed, ${gc.failed.length} failed`);
  const cache = await refreshSignupImageCache(deps);
  say(`signupImageCacheRefresh: ${cache.refreshed ? `${cache.count} images cached` : `kept (${cache.reason})`}`);

  const tasks = await db.collection("mirrorQueue").get();
  const done = tasks.docs.filter((d) => d.get("status") === "done").length;
  const failed = tasks.docs.filter((d) => d.get("status") === "failed");
  const mirrored = (await db.collection("publicGenerations").get()).size;
  say(
    `summary: ${done} tasks mirrored, ${failed.length} failed (${failed.map((d) => d.get("lastError")).join("; ")}); ` +
      `${mirrored} public generations; ${snapshots.created.length} snapshots made; ${gc.deleted} media deleted, ${gc.bytesFreed} bytes freed; ` +
      `${cache.count} images cached; in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );

  async function shutdown(code: number): Promise<void> {
    stopping = true;
    for (const w of workers) w.kill("SIGTERM");
    // "close", not "exit": the workers' last log lines are still in their pipes when they exit.
    await Promise.all(workers.map((w) => (w.stdout!.closed ? undefined : new Promise((r) => w.once("close", r)))));
    client.destroy();
    await s3.dispose();
    await emulator.stop();
    process.exit(code);
  }
  if (once) return shutdown(0);
  say("workers running; press Ctrl-C to stop. To enqueue a mirror task (from functions/, in another shell):");
  say(
    `  FIRESTORE_EMULATOR_HOST=${emulator.hostPort} GCLOUD_PROJECT=${projectId} node -e 'const { initializeApp } = require("firebase-admin/app"); ` +
      `const { getFirestore, FieldValue } = require("firebase-admin/firestore"); initializeApp(); ` +
      `getFirestore().collection("mirrorQueue").add({ op: "upsert", uid: "ana", historyId: "demo-3", status: "pending", createdAt: FieldValue.serverTimestamp() }).then((r) => console.log("enqueued", r.id))'`,
  );
  process.once("SIGINT", () => void shutdown(0));
  process.once("SIGTERM", () => void shutdown(0));
}

main().catch((error) => {
  process.stderr.write(`[local] ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
