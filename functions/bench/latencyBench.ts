import { spawn } from "node:child_process";
import { Timestamp } from "firebase-admin/firestore";
import { startDelayProxy } from "./delayProxy";
import { track, WORKER_SCRIPT } from "./mirrorRun";
import { USERS } from "./mirrorWorkload";
import { freshDb, log, round, sleep, writeAll } from "./setup";
import { percentile, spread, type Spread } from "./stats";

/**
 * Enqueue → visible mirror on the poller path at a steady load below capacity: one standalone
 * worker process with the seed defaults behind the delay proxy; the benchmark enqueues upserts at
 * `ratePerSecond` straight to the emulator (the app's own latency is not the worker's). Latency is
 * the mirror doc's create time minus the task's create time, both stamped by the emulator's clock.
 */
export interface LatencyResult {
  oneWayDelayMs: number;
  ratePerSecond: number;
  seconds: number;
  runs: { p50: number; p99: number; max: number; tasks: number; mirrored: number }[];
  p50: Spread;
  p99: Spread;
  /** Percentiles over every run's tasks together. */
  pooled: { p50: number; p95: number; p99: number; max: number };
}

export async function latencyBench(
  emulatorHostPort: string,
  options: { delays: number[]; repeats: number; ratePerSecond: number; seconds: number },
): Promise<LatencyResult[]> {
  const [host, port] = emulatorHostPort.split(":");
  const results: LatencyResult[] = [];
  for (const delay of options.delays) {
    const proxy = await startDelayProxy({ host, port: Number(port) }, delay);
    const runs: (LatencyResult["runs"][number] & { all: number[] })[] = [];
    for (let r = 0; r < options.repeats; r++) runs.push(await once(proxy.hostPort, delay, options.ratePerSecond, options.seconds));
    await proxy.close();
    const pooled = runs.flatMap((x) => x.all).sort((a, b) => a - b);
    results.push({
      oneWayDelayMs: delay,
      ratePerSecond: options.ratePerSecond,
      seconds: options.seconds,
      runs: runs.map(({ all: _all, ...rest }) => rest),
      p50: spread(runs.map((x) => x.p50)),
      p99: spread(runs.map((x) => x.p99)),
      pooled: { p50: percentile(pooled, 50), p95: percentile(pooled, 95), p99: percentile(pooled, 99), max: pooled[pooled.length - 1] },
    });
  }
  return results;
}

async function once(proxyHostPort: string, delay: number, rate: number, seconds: number) {
  const { db, projectId, dispose } = freshDb("latency");
  const count = Math.round(rate * seconds);
  const docs: [string, Record<string, unknown>][] = [];
  for (let u = 0; u < USERS; u++) docs.push([`users/u${u}`, { username: `user${u}`, displayName: `User ${u}`, photoURL: null }]);
  for (let i = 0; i < count; i++)
    docs.push([
      `generationHistory/u${i % USERS}/items/l${i}`,
      { uid: `u${i % USERS}`, prompt: `p${i}`, images: [], isPublic: true, isDeleted: false },
    ]);
  await writeAll(db, docs);
  const worker = track(
    spawn(process.execPath, [WORKER_SCRIPT], {
      env: {
        ...process.env,
        FIRESTORE_EMULATOR_HOST: proxyHostPort,
        GCLOUD_PROJECT: projectId,
        LOG_LEVEL: "WARNING",
        WORKER_HEARTBEAT_MS: "3600000",
      },
      stdio: ["ignore", "ignore", "inherit"],
    }),
  );
  await sleep(3000); // the worker loads and makes its first (empty) poll: the load starts against a running worker
  const started = Date.now();
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / rate;
    if (due > Date.now()) await sleep(due - Date.now());
    writes.push(
      db
        .collection("mirrorQueue")
        .doc()
        .set({ op: "upsert", uid: `u${i % USERS}`, historyId: `l${i}`, status: "pending", createdAt: Timestamp.now() }),
    );
  }
  await Promise.all(writes);
  // Let the worker finish what the load left (bounded: a poll interval plus the batches in hand).
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && (await db.collection("publicGenerations").count().get()).data().count < count) await sleep(250);
  worker.kill("SIGTERM");
  await new Promise((r) => worker.once("exit", r));
  const tasks = new Map(
    (await db.collection("mirrorQueue").select("historyId").get()).docs.map((d) => [d.get("historyId") as string, d.createTime.toMillis()]),
  );
  const all = (await db.collection("publicGenerations").select().get()).docs
    .map((m) => m.createTime.toMillis() - tasks.get(m.id)!)
    .sort((a, b) => a - b);
  await dispose();
  const run = { p50: percentile(all, 50), p99: percentile(all, 99), max: all[all.length - 1], tasks: count, mirrored: all.length, all };
  log(
    `  latency @${delay} ms, ${rate}/s: p50 ${round(run.p50, 0)} ms, p99 ${round(run.p99, 0)} ms, max ${round(run.max, 0)} ms (${run.mirrored}/${count} mirrored)`,
  );
  return run;
}
