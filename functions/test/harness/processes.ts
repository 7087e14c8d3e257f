import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { recordProcessGroup } from "../../dev/emulator";
import { clearProject, emulatorHost, uniqueProjectId } from "./firestore";

/** A standalone worker started from the build output, as an operator would run it. */
export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Parsed JSON log lines so far (stdout and stderr). */
  logs: Record<string, unknown>[];
  /** Non-JSON output, for failure messages. */
  text: string[];
  /** Every line, by stream. */
  lines: { stdout: string[]; stderr: string[] };
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Resolves with the ms from spawn to the process's `worker.started` line (its startup checks passed);
   * rejects, with its output, when it exits before that.
   */
  started: Promise<number>;
}

export const LIB = join(__dirname, "../../lib");

export function startWorkerProcess(script: string, projectId: string, env: Record<string, string> = {}): WorkerProcess {
  return startBuilt(join("workers", script), [], projectId, env);
}

/** The operator CLI as a running process (`runCli` waits for it instead), for tests that signal it mid-run. */
export function startCli(args: string[], projectId: string, env: Record<string, string> = {}): WorkerProcess {
  return startBuilt(join("cli", "workers.js"), args, projectId, env);
}

function startBuilt(script: string, args: string[], projectId: string, env: Record<string, string>): WorkerProcess {
  const path = join(LIB, script);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first (npm test does)`);
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [path, ...args], {
    env: { ...process.env, FIRESTORE_EMULATOR_HOST: emulatorHost(), GCLOUD_PROJECT: projectId, LOG_LEVEL: "INFO", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  const text: string[] = [];
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  let onStarted: (ms: number) => void = () => undefined;
  const collect = (stream: "stdout" | "stderr") => (line: string) => {
    lines[stream].push(line);
    if (!line.trim()) return;
    try {
      const entry = JSON.parse(line);
      logs.push(entry);
      if (entry.message === "worker.started") onStarted(performance.now() - spawnedAt);
    } catch {
      text.push(line);
    }
  };
  createInterface({ input: child.stdout! }).on("line", collect("stdout"));
  createInterface({ input: child.stderr! }).on("line", collect("stderr"));
  // "close": the streams are read to their end too, so every line is in by then.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal })),
  );
  const started = new Promise<number>((resolve, reject) => {
    onStarted = resolve;
    void exited.then(({ code, signal }) =>
      reject(
        new Error(`${script} ended (${signal ?? `exit ${code}`}) before it started:\n${[...lines.stderr, ...lines.stdout].join("\n")}`),
      ),
    );
  });
  // A test of a process that must refuse to start never waits for its start.
  started.catch(() => undefined);
  return { child, pid: child.pid!, logs, text, lines, exited, started };
}

/**
 * Deadlines for waits on worker processes are multiples of one measured start (spawn to `worker.started`,
 * `WorkerProcess.started`) on this machine, now: a machine busy enough to start a process five times slower
 * also runs the work after it about five times slower, and gets five times the time. Nothing is tuned to a
 * quiet machine (where a start takes about a second).
 */
export const Pace = {
  /** A start may take this many times the one measured, as the machine's load changes while a test runs. */
  START_SLACK: 5,
  /** Waits on work that moves (eventuallyWhileProgressing) fail after this many starts without a change. */
  STALL_STARTS: 30,
} as const;

/**
 * Starts one process with `start` and measures its start, then `count - 1` more at once, and waits for them
 * to start, each allowed START_SLACK times the measured start (they share the machine). Resolves with
 * the processes and the measured start in ms, the unit of the test's later deadlines (Pace). Rejects
 * when one ends before it starts, or when the others do not start in time. The first start has no
 * deadline here: the process bounds it itself (its startup checks give up and exit 2, runtime/standalone.ts).
 */
export async function startMeasured(count: number, start: () => WorkerProcess): Promise<{ processes: WorkerProcess[]; startMs: number }> {
  const first = start();
  const startMs = await first.started;
  const others = Array.from({ length: count - 1 }, start);
  const allowedMs = Pace.START_SLACK * Math.max(1, others.length) * startMs;
  await within(Promise.all(others.map((w) => w.started)), allowedMs, `${others.length} more processes to start`);
  return { processes: [first, ...others], startMs };
}

/**
 * One mirror queue worker's start (ms) on this machine now, on an empty project of its own: the unit
 * of Pace for a test whose processes log no start of their own (the CLI, `npm run local`).
 */
export async function measureStart(): Promise<number> {
  const projectId = uniqueProjectId("pace");
  const w = startWorkerProcess("mirrorQueueWorker.js", projectId);
  try {
    return await w.started;
  } finally {
    await killAll([w]);
    await clearProject(projectId);
  }
}

/** `work`, or a rejection naming `label` when it has not settled within `ms`. */
export async function within<T>(work: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${Math.round(ms)} ms waiting for ${label}`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Kills whatever is still running; for afterEach, so a failed test leaves no process behind. */
export async function killAll(workers: WorkerProcess[]): Promise<void> {
  await Promise.all(
    workers.map(async (w) => {
      if (w.child.exitCode === null && w.child.signalCode === null) {
        w.child.kill("SIGKILL");
        await w.exited;
      }
    }),
  );
}

/** Runs the operator CLI (`lib/cli/workers.js`) to completion. */
export async function runCli(
  args: string[],
  projectId: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const path = join(LIB, "cli", "workers.js");
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first (npm test does)`);
  const child = spawn(process.execPath, [path, ...args], {
    env: { ...process.env, FIRESTORE_EMULATOR_HOST: emulatorHost(), GCLOUD_PROJECT: projectId, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c));
  child.stderr!.on("data", (c: Buffer) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  return { code, stdout, stderr };
}

/**
 * Starts `command` in a process group of its own, for `stopProcessGroup` (dev/emulator.ts) to take
 * down with all it started, and lists the group in WORKERS_PGID_FILE with that variable in the
 * group's environment, so `.ci/run` stops it too should the test run itself be killed.
 */
export function spawnOwnGroup(command: string, args: string[], options: SpawnOptions & { env: NodeJS.ProcessEnv }): ChildProcess {
  const { WORKERS_PGID_FILE } = process.env;
  const child = spawn(command, args, {
    ...options,
    env: { ...options.env, ...(WORKERS_PGID_FILE && { WORKERS_PGID_FILE }) },
    detached: true,
  });
  if (child.pid !== undefined) recordProcessGroup(child.pid, process.env);
  return child;
}
