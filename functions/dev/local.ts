/**
 * `npm run local`: the workers running on this machine against a Firestore emulator, with demo data.
 * Starts the emulator on a free port (or uses FIRESTORE_EMULATOR_HOST), seeds history items and a
 * stream of mirror tasks, runs the standalone mirror worker, and prints a summary. Runs until
 * Ctrl-C, or one pass with --once.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { initializeApp } from "firebase-admin/app";
import { getFirestore, Timestamp, type Firestore } from "firebase-admin/firestore";
import { INSTALL_HINT, findEmulator, killOnExit, startEmulator, waitUntilReady, type RunningEmulator } from "./emulator";

const PROJECT_ID = "demo-workers";
const once = process.argv.includes("--once");
const say = (line: string) => process.stdout.write(`[local] ${line}\n`);

async function seed(db: Firestore): Promise<number> {
  await db.doc("users/ana").set({ username: "ana", displayName: "Ana", photoURL: "https://example.com/ana.png" });
  const t0 = Date.now();
  const tasks: Record<string, unknown>[] = [];
  for (let i = 0; i < 20; i++) {
    const historyId = `demo-${i}`;
    const isPublic = i % 4 !== 0;
    await db.doc(`generationHistory/ana/items/${historyId}`).set({
      uid: "ana",
      prompt: `a demo image #${i}`,
      model: "flux",
      generationType: "text-to-image",
      images: [{ id: `${historyId}-0`, url: `https://cdn.example.com/${historyId}.png` }],
      videos: [],
      isPublic,
      isDeleted: false,
      aestheticScore: 5 + (i % 5),
      createdAt: Timestamp.fromMillis(t0 - 3600_000),
      updatedAt: Timestamp.fromMillis(t0 - 3600_000),
    });
    tasks.push({ op: "upsert", uid: "ana", historyId });
  }
  tasks.push({ op: "update", uid: "ana", historyId: "demo-1", updates: { prompt: "a demo image, edited" } });
  tasks.push({ op: "remove", uid: "ana", historyId: "demo-2" });
  tasks.push({ op: "teleport", uid: "ana", historyId: "demo-3" }); // malformed: fails alone, never retried
  for (const [i, task] of tasks.entries()) await db.collection("mirrorQueue").add({ ...task, createdAt: Timestamp.fromMillis(t0 + i) });
  return tasks.length;
}

async function main(): Promise<void> {
  let emulator: RunningEmulator | undefined;
  let host = process.env.FIRESTORE_EMULATOR_HOST;
  if (host) {
    await waitUntilReady(host, 10_000);
    say(`using the Firestore emulator at ${host}`);
  } else {
    const found = findEmulator();
    if (!found) throw new Error(INSTALL_HINT);
    say(`starting the Firestore emulator (${found.source})`);
    emulator = await startEmulator(found);
    killOnExit(emulator);
    host = emulator.hostPort;
    say(`Firestore emulator at ${host}`);
  }
  process.env.FIRESTORE_EMULATOR_HOST = host;
  const db = getFirestore(initializeApp({ projectId: PROJECT_ID }));
  const enqueued = await seed(db);
  say(`seeded 20 history items and ${enqueued} mirror tasks (one malformed)`);

  const worker = spawn(process.execPath, [join(__dirname, "../../lib/workers/mirrorQueueWorker.js")], {
    env: { ...process.env, GCLOUD_PROJECT: PROJECT_ID, MIRROR_HEARTBEAT_MS: "10000" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  createInterface({ input: worker.stdout! }).on("line", (line) => {
    try {
      const entry = JSON.parse(line);
      if (entry.message === "task.completed") say(`mirrored ${entry.historyId}: ${entry.op} → ${entry.outcome}`);
      else if (entry.message !== "config.loaded") say(`${entry.message} ${JSON.stringify({ ...entry, severity: undefined, message: undefined, time: undefined })}`);
    } catch {
      say(line);
    }
  });

  worker.once("exit", (code, signal) => {
    if (stopping) return;
    say(`the mirror worker exited unexpectedly (code ${code}, signal ${signal})`);
    void emulator?.stop().then(() => process.exit(1));
  });
  let stopping = false;
  const finished = async () => {
    const snap = await db.collection("mirrorQueue").get();
    return snap.docs.every((d) => d.get("status") === "done" || d.get("status") === "failed");
  };
  while (!(await finished())) await new Promise((r) => setTimeout(r, 250));
  const tasks = await db.collection("mirrorQueue").get();
  const done = tasks.docs.filter((d) => d.get("status") === "done").length;
  const failed = tasks.docs.filter((d) => d.get("status") === "failed");
  const mirrored = (await db.collection("publicGenerations").get()).size;
  say(`summary: ${done} tasks done, ${failed.length} failed (${failed.map((d) => d.get("lastError")).join("; ")}), ${mirrored} public generations`);

  const shutdown = async () => {
    stopping = true;
    worker.kill("SIGTERM");
    await new Promise((r) => worker.once("exit", r));
    await emulator?.stop();
    process.exit(0);
  };
  if (once) return shutdown();
  say("workers running; Ctrl-C to stop");
  process.once("SIGINT", () => void shutdown());
  process.once("SIGTERM", () => void shutdown());
}

main().catch((error) => {
  process.stderr.write(`[local] ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
