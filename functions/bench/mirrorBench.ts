import { join } from "node:path";
import { startDelayProxy } from "./delayProxy";
import { CHILD_SCRIPT, measure, WORKER_SCRIPT, type Measurement, type MirrorPath } from "./mirrorRun";
import { log } from "./setup";
import { spread, type Spread } from "./stats";

/**
 * Section 1: every mirror path, at each one-way delay, each measured `repeats` times in fresh
 * projects; medians and spread. Every path runs as its own process(es) through the delay proxy,
 * counted by the preload (RPCs, billed operations, claims lost).
 */
export interface MirrorOptions {
  delays: number[];
  repeats: number;
  tasks: number;
  maxSeconds: number;
  /** Path ids to run (all when absent). */
  paths?: string[];
  /** A lib/ built from the code before a change: its seed-defaults worker runs as the path "before", in the same run. */
  beforeLib?: string;
}

const worker = (batch: number, pool: number, script = WORKER_SCRIPT) => ({
  script,
  env: { MIRROR_BATCH_LIMIT: String(batch), MIRROR_POOL_SIZE: String(pool) },
});
const DEFAULTS = { batch: 12, pool: 4 };
const MIN_TASKS = 300;
/** Candidates for "best settings", tried once each; the fastest is then repeated. */
export const CANDIDATES = [
  { batch: 50, pool: 8 },
  { batch: 100, pool: 16 },
  { batch: 200, pool: 32 },
];

export const PATHS: MirrorPath[] = [
  { id: "naive", label: "naive sequential loop", processes: [{ script: CHILD_SCRIPT, args: ["naive"] }], tasks: 600 },
  { id: "defaults", label: "1 worker process, seed defaults (batch 12, pool 4)", processes: [worker(DEFAULTS.batch, DEFAULTS.pool)] },
  { id: "best", label: "1 worker process, best settings", processes: [] },
  {
    id: "workers2",
    label: "2 worker processes, seed defaults",
    processes: [worker(DEFAULTS.batch, DEFAULTS.pool), worker(DEFAULTS.batch, DEFAULTS.pool)],
  },
  {
    id: "workers4",
    label: "4 worker processes, seed defaults",
    processes: Array.from({ length: 4 }, () => worker(DEFAULTS.batch, DEFAULTS.pool)),
  },
  { id: "trigger", label: "trigger path (80 concurrent events, one instance)", processes: [{ script: CHILD_SCRIPT, args: ["trigger"] }] },
  {
    id: "floor",
    label: "batched floor (500 tasks: 1 query, 1 getAll, 1 commit)",
    processes: [{ script: CHILD_SCRIPT, args: ["floor"] }],
    tasks: 4000,
  },
];

export interface PathResult {
  id: string;
  label: string;
  settings?: { batch: number; pool: number };
  runs: Measurement[];
  tasksPerSecond: Spread;
  rpcsPerTask: Spread;
  readsPerTask: Spread;
  writesPerTask: Spread;
  deletesPerTask: Spread;
  /** Share of claim attempts lost to another worker. */
  claimsLostShare: Spread;
  /** Runs whose queue drained, from which the per-task counts come. */
  drainedRuns: number;
  /** Median RPCs per task by method. */
  rpcsByMethod: Record<string, number>;
  /** Median writes and deletes per task by collection written. */
  writesByCollection: Record<string, number>;
  slowRpcs: Measurement["ops"]["slow"];
  /** CPU ms per task: the path's processes, the emulator (Measurement.cpuMsPerTask); NaN where unread. */
  cpuMsPerTask: { processes: Spread; emulator: Spread };
}

export interface DelayResult {
  oneWayDelayMs: number;
  paths: PathResult[];
  sweep: { batch: number; pool: number; tasksPerSecond: number }[];
  proxy: { connections: number; maxOpen: number };
}

export async function mirrorBench(emulatorHostPort: string, options: MirrorOptions): Promise<DelayResult[]> {
  const [host, port] = emulatorHostPort.split(":");
  const wanted = (id: string) => !options.paths || options.paths.includes(id);
  const results: DelayResult[] = [];
  for (const delay of options.delays) {
    const proxy = await startDelayProxy({ host, port: Number(port) }, delay);
    log(`mirror at ${delay} ms one-way delay (proxy ${proxy.hostPort}), ${options.repeats} runs each`);
    const run = (path: MirrorPath) => measure(path, proxy.hostPort, delay, { ...options, emulatorPort: Number(port) });
    // A run that hit the time cap sizes the next ones so that they drain the queue within it (so
    // that their per-task counts are exact), but never below a few batches of every process.
    const repeat = async (path: MirrorPath, first: Measurement[] = []) => {
      const runs = [...first];
      let tasks = path.tasks ?? options.tasks;
      const resize = (m: Measurement) => {
        if (!m.drained) tasks = Math.max(MIN_TASKS, Math.floor(m.tasksDone * 0.8));
      };
      runs.forEach(resize);
      while (runs.length < options.repeats) {
        const m = await run({ ...path, tasks });
        runs.push(m);
        resize(m);
      }
      return runs;
    };
    const paths: PathResult[] = [];
    const sweep: DelayResult["sweep"] = [];
    const before: MirrorPath[] = options.beforeLib
      ? [
          {
            id: "before",
            label: "1 worker process, seed defaults, the code before the change",
            processes: [worker(DEFAULTS.batch, DEFAULTS.pool, join(options.beforeLib, "workers/mirrorQueueWorker.js"))],
          },
        ]
      : [];
    for (const path of [...before, ...PATHS]) {
      if (!wanted(path.id)) continue;
      if (path.id !== "best") {
        paths.push(summarize(path, await repeat(path)));
        continue;
      }
      // Best settings: each candidate once, then the fastest repeated.
      const tried: { settings: (typeof CANDIDATES)[number]; run: Measurement }[] = [];
      for (const settings of CANDIDATES) {
        const run1 = await run({
          ...path,
          id: `best-${settings.batch}-${settings.pool}`,
          label: `batch ${settings.batch}, pool ${settings.pool}`,
          processes: [worker(settings.batch, settings.pool)],
        });
        tried.push({ settings, run: run1 });
        sweep.push({ ...settings, tasksPerSecond: run1.tasksPerSecond });
      }
      const best = tried.reduce((a, b) => (b.run.tasksPerSecond > a.run.tasksPerSecond ? b : a));
      const bestPath = {
        ...path,
        label: `1 worker process, best settings (batch ${best.settings.batch}, pool ${best.settings.pool})`,
        processes: [worker(best.settings.batch, best.settings.pool)],
      };
      paths.push({ ...summarize(bestPath, await repeat(bestPath, [best.run])), settings: best.settings });
    }
    const stats = proxy.stats();
    await proxy.close();
    results.push({ oneWayDelayMs: delay, paths, sweep, proxy: { connections: stats.connections, maxOpen: stats.maxOpen } });
  }
  return results;
}

/** Throughput from every run; per-task counts from the runs that drained their queue, when there are any. */
function summarize(path: MirrorPath, runs: Measurement[]): PathResult {
  const exact = runs.some((r) => r.drained) ? runs.filter((r) => r.drained) : runs;
  const of = (f: (m: Measurement) => number) => spread(exact.map(f));
  const methods = [...new Set(runs.flatMap((r) => Object.keys(r.perTask.byMethod)))];
  const collections = [...new Set(runs.flatMap((r) => Object.keys(r.ops.writesByCollection)))];
  return {
    id: path.id,
    label: path.label,
    runs,
    tasksPerSecond: spread(runs.map((m) => m.tasksPerSecond)),
    rpcsPerTask: of((m) => m.perTask.rpcs),
    readsPerTask: of((m) => m.perTask.reads),
    writesPerTask: of((m) => m.perTask.writes),
    deletesPerTask: of((m) => m.perTask.deletes),
    claimsLostShare: of((m) => (m.claims ? m.claimsLost / m.claims : 0)),
    drainedRuns: runs.filter((r) => r.drained).length,
    cpuMsPerTask: {
      processes: of((m) => m.cpuMsPerTask.processes ?? NaN),
      emulator: of((m) => m.cpuMsPerTask.emulator ?? NaN),
    },
    rpcsByMethod: Object.fromEntries(methods.map((k) => [k, spread(exact.map((r) => r.perTask.byMethod[k] ?? 0)).median])),
    slowRpcs: runs.flatMap((r) => r.ops.slow),
    writesByCollection: Object.fromEntries(
      collections.map((k) => [k, spread(exact.map((r) => (r.ops.writesByCollection[k] ?? 0) / Math.max(1, r.tasksDone))).median]),
    ),
  };
}
