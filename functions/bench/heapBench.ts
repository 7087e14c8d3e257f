import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Timestamp } from "firebase-admin/firestore";
import { freshDb, log, round, sleep, writeAll } from "./setup";

/** Section 4: the standalone mirror worker process under steady load; heap in use from its own heartbeats. */
export async function heapBench(emulatorHost: string, minutes: number, ratePerSecond: number) {
  const { db, projectId } = freshDb("heap");
  const total = Math.round(minutes * 60 * ratePerSecond);
  const items: [string, Record<string, unknown>][] = [];
  for (let i = 0; i < 500; i++)
    items.push([
      `generationHistory/u${i % 20}/items/h${i}`,
      { uid: `u${i % 20}`, prompt: `p${i}`, images: [{ id: "0", url: `https://cdn/${i}.png` }], isPublic: true, isDeleted: false },
    ]);
  await writeAll(db, items);
  const worker = spawn(process.execPath, [join(__dirname, "../../lib/workers/mirrorQueueWorker.js")], {
    env: {
      ...process.env,
      FIRESTORE_EMULATOR_HOST: emulatorHost,
      GCLOUD_PROJECT: projectId,
      WORKER_HEARTBEAT_MS: "10000",
      LOG_LEVEL: "INFO",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const beats: { seconds: number; heapUsedMb: number; processed: number }[] = [];
  const started = Date.now();
  createInterface({ input: worker.stdout! }).on("line", (line) => {
    const entry = JSON.parse(line);
    if (entry.message === "worker.heartbeat")
      beats.push({ seconds: round((Date.now() - started) / 1000, 0), heapUsedMb: entry.heapUsedMb, processed: entry.processed });
  });
  log(`heap: ${minutes} min of ${ratePerSecond} tasks/s against the standalone worker`);
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / ratePerSecond;
    if (due > Date.now()) await sleep(due - Date.now());
    const h = i % 500;
    void db.collection("mirrorQueue").add({
      op: i % 3 === 0 ? "update" : "upsert",
      uid: `u${h % 20}`,
      historyId: `h${h}`,
      updates: { prompt: `edit ${i}` },
      status: "pending",
      createdAt: Timestamp.now(),
    });
  }
  await sleep(12_000);
  worker.kill("SIGTERM");
  await new Promise((r) => worker.once("close", r));
  const third = Math.max(1, Math.floor(beats.length / 3));
  const mean = (xs: number[]) => round(xs.reduce((a, b) => a + b, 0) / xs.length, 1);
  const early = mean(beats.slice(0, third).map((b) => b.heapUsedMb));
  const late = mean(beats.slice(-third).map((b) => b.heapUsedMb));
  log(`heap: first third ${early} MB, last third ${late} MB over ${beats.length} heartbeats`);
  return {
    minutes,
    ratePerSecond,
    tasks: total,
    processed: beats.at(-1)?.processed ?? 0,
    beats,
    earlyMeanMb: early,
    lateMeanMb: late,
    maxMb: Math.max(...beats.map((b) => b.heapUsedMb)),
  };
}
