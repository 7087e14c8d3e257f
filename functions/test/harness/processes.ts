import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { recordProcessGroup } from "../../dev/emulator";
import { emulatorHost } from "./firestore";

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
  const child = spawn(process.execPath, [path, ...args], {
    env: { ...process.env, FIRESTORE_EMULATOR_HOST: emulatorHost(), GCLOUD_PROJECT: projectId, LOG_LEVEL: "INFO", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  const text: string[] = [];
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const collect = (stream: "stdout" | "stderr") => (line: string) => {
    lines[stream].push(line);
    if (!line.trim()) return;
    try {
      logs.push(JSON.parse(line));
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
  return { child, pid: child.pid!, logs, text, lines, exited };
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
