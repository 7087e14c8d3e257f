import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { emulatorCpuMs } from "./cpu";
import { emptyCounts, sumCounts, type OpCounts } from "./opCounter";
import { doneCount, doneTimes, seedUpserts, throughput } from "./mirrorWorkload";
import { functionsRuntimeEnv } from "../dev/functionsRuntime";
import { freshDb, log, sleep } from "./setup";

/**
 * One measurement of one mirror path: a fresh emulator project seeded with upsert tasks, the
 * path's processes started against the delay proxy, stopped when the queue is drained or the time
 * cap is reached, and their own counts (RPCs, billed operations, claims) read when they exit.
 */
export interface MirrorPath {
  id: string;
  label: string;
  /** One entry per process to start at once. */
  processes: { script: string; args?: string[]; env?: Record<string, string> }[];
  /** Tasks to seed (else the run's option); the run also stops after `maxSeconds`. */
  tasks?: number;
}

export interface Measurement {
  path: string;
  oneWayDelayMs: number;
  tasksDone: number;
  /** Every seeded task done: the per-task counts are exact (a capped run's scans read ahead). */
  drained: boolean;
  /** Tasks done per second once every process of the path had made its first RPC, to the last completion. */
  tasksPerSecond: number;
  ops: OpCounts;
  /** Per task done. */
  perTask: { rpcs: number; reads: number; writes: number; deletes: number; byMethod: Record<string, number> };
  claims: number;
  claimsLost: number;
  /** Claims attempted and lost by each process of the path. */
  claimsByProcess: { claims: number; lost: number }[];
  wallSeconds: number;
  /**
   * CPU time per task done, ms: of the path's processes from their first RPC on, and of the
   * emulator over the run (the benchmark's progress checks included: a count query every 250 ms);
   * undefined where it cannot be read.
   */
  cpuMsPerTask: { processes?: number; emulator?: number };
}

const root = join(__dirname, "../..");
export const WORKER_SCRIPT = join(root, "lib/workers/mirrorQueueWorker.js");
export const CHILD_SCRIPT = join(__dirname, "mirrorChild.js");
const PRELOAD = join(__dirname, "countingPreload.js");

/** Every process a measurement started and has not yet seen exit: stopped if the benchmark itself exits early. */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export function track(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once("exit", () => running.delete(child));
  return child;
}

export async function measure(
  path: MirrorPath,
  proxyHostPort: string,
  oneWayDelayMs: number,
  options: { tasks: number; maxSeconds: number; emulatorPort?: number },
): Promise<Measurement & { seeded: number }> {
  const { db, projectId, dispose } = freshDb(path.id);
  const tasks = path.tasks ?? options.tasks;
  await seedUpserts(db, tasks);
  const dir = mkdtempSync(join(tmpdir(), "bench-counts-"));
  const emulatorCpu = () => (options.emulatorPort ? emulatorCpuMs(options.emulatorPort) : undefined);
  const emulatorCpuBefore = emulatorCpu();
  const started = performance.now();
  const children = path.processes.map((p, i) => start(p, { projectId, proxyHostPort, countsFile: join(dir, `${i}.json`) }));
  let done = 0;
  while (done < tasks && performance.now() - started < options.maxSeconds * 1000 && children.some((c) => c.exitCode === null)) {
    await sleep(250);
    done = await doneCount(db);
  }
  await Promise.all(children.map(stop));
  const wallSeconds = (performance.now() - started) / 1000;
  const emulatorCpuAfter = emulatorCpu();
  const each = children.map((_, i) => readCounts(join(dir, `${i}.json`)));
  const ops = sumCounts(each);
  rmSync(dir, { recursive: true, force: true });
  const times = await doneTimes(db);
  await dispose();
  const n = Math.max(1, times.length);
  const per = (x: number) => x / n;
  const m = {
    seeded: tasks,
    path: path.id,
    oneWayDelayMs,
    tasksDone: times.length,
    drained: times.length >= tasks,
    tasksPerSecond: throughput(
      times,
      each.map((c) => c.firstRpcAt),
    ),
    ops,
    perTask: {
      rpcs: per(ops.rpcs),
      reads: per(ops.reads),
      writes: per(ops.writes),
      deletes: per(ops.deletes),
      byMethod: Object.fromEntries(Object.entries(ops.byMethod).map(([k, v]) => [k, per(v.calls)])),
    },
    claims: ops.claims,
    claimsLost: ops.claimsLost,
    claimsByProcess: each.map((c) => ({ claims: c.claims, lost: c.claimsLost })),
    wallSeconds,
    cpuMsPerTask: {
      processes: each.every((c) => c.cpuMs !== undefined) ? per(ops.cpuMs ?? 0) : undefined,
      emulator: emulatorCpuBefore !== undefined && emulatorCpuAfter !== undefined ? per(emulatorCpuAfter - emulatorCpuBefore) : undefined,
    },
  };
  const slow = ops.slow.length
    ? `, ${ops.slow.length} RPCs over 5 s: ${ops.slow.map((s) => `${s.method} ${s.ms} ms ${s.code}`).join("; ")}`
    : "";
  log(
    `  ${path.label} @${oneWayDelayMs} ms: ${m.tasksPerSecond.toFixed(1)} tasks/s, ${m.perTask.rpcs.toFixed(2)} RPCs, ${m.perTask.reads.toFixed(2)} reads, ${m.perTask.writes.toFixed(2)} writes/task, ${m.claimsLost}/${m.claims} claims lost, ${m.tasksDone} done in ${wallSeconds.toFixed(1)} s, CPU ${m.cpuMsPerTask.processes?.toFixed(2) ?? "?"} + ${m.cpuMsPerTask.emulator?.toFixed(2) ?? "?"} (emulator) ms/task${slow}`,
  );
  return m;
}

function start(p: MirrorPath["processes"][number], at: { projectId: string; proxyHostPort: string; countsFile: string }): ChildProcess {
  const child = spawn(process.execPath, ["-r", PRELOAD, p.script, ...(p.args ?? [])], {
    env: {
      ...process.env,
      FIRESTORE_EMULATOR_HOST: at.proxyHostPort,
      ...functionsRuntimeEnv(at.projectId),
      BENCH_COUNTS_FILE: at.countsFile,
      LOG_LEVEL: "WARNING",
      WORKER_HEARTBEAT_MS: "3600000",
      ...p.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child);
  // Warnings and errors of the paths are worth seeing; progress lines are not.
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on("line", (line) => {
      if (!line.includes("bench.completed") && !line.includes("MetadataLookupWarning") && !line.includes("--trace-warnings"))
        log(`    [${child.pid}] ${line.slice(0, 400)}`);
    });
  }
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  // A worker finishes the batch in hand and exits; one that has not after its grace period is killed.
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await exited;
  clearTimeout(timer);
}

function readCounts(file: string): OpCounts {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    log(`    no counts in ${file}: the process died before writing them`);
    return emptyCounts();
  }
}
