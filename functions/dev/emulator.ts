import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../src/core/errors";
import { DEMO_PROJECT, probeEmulator, readFirestoreEnv } from "../src/runtime/firestoreEnv";

/**
 * Finds and starts a Cloud Firestore emulator for the test run. firebase-tools 14+ will not start
 * Java emulators below Java 21, so the harness runs the emulator's jar itself; under
 * `firebase emulators:exec` FIRESTORE_EMULATOR_HOST is already set and nothing is started.
 */
export interface EmulatorCommand {
  source: string;
  command: string;
  args: (host: string, port: number) => string[];
}

/** Where to look; the defaults are this machine's, tests pass their own. */
export interface EmulatorSearch {
  env?: NodeJS.ProcessEnv;
  sdkDirs?: string[];
  firebaseCache?: string;
}

const defaultSdkDirs = (env: NodeJS.ProcessEnv) =>
  [
    env.CLOUDSDK_ROOT_DIR,
    "/usr/lib/google-cloud-sdk",
    "/usr/share/google-cloud-sdk",
    "/opt/google-cloud-sdk",
    join(homedir(), "google-cloud-sdk"),
  ].filter((d): d is string => Boolean(d));

const versionOf = (jar: string) => (jar.match(/v([\d.]+)\.jar$/)?.[1] ?? "0").split(".").map(Number);
const newerFirst = (a: string, b: string) => {
  const [x, y] = [versionOf(a), versionOf(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (y[i] ?? 0) - (x[i] ?? 0);
  return 0;
};

/** FIRESTORE_EMULATOR_JAR, else the Google Cloud SDK's emulator, else the newest jar firebase-tools cached. */
export function findEmulator(where: EmulatorSearch = {}): EmulatorCommand | undefined {
  const env = where.env ?? process.env;
  const java = env.JAVA ?? "java";
  if (env.FIRESTORE_EMULATOR_JAR) return jarCommand(java, env.FIRESTORE_EMULATOR_JAR, "FIRESTORE_EMULATOR_JAR");
  for (const sdk of where.sdkDirs ?? defaultSdkDirs(env)) {
    const jar = join(sdk, "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar");
    if (!existsSync(jar)) continue;
    return {
      source: jar,
      command: java,
      args: (host, port) => [
        "-Duser.language=en",
        "-cp",
        jar,
        "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
        "start",
        `--host=${host}`,
        `--port=${port}`,
      ],
    };
  }
  const cache = where.firebaseCache ?? join(homedir(), ".cache/firebase/emulators");
  if (!existsSync(cache)) return undefined;
  const [newest] = readdirSync(cache)
    .filter((f) => /^cloud-firestore-emulator-v[\d.]+\.jar$/.test(f))
    .sort(newerFirst);
  return newest ? jarCommand(java, join(cache, newest), "firebase-tools cache") : undefined;
}

function jarCommand(java: string, jar: string, source: string): EmulatorCommand {
  return {
    source: `${jar} (${source})`,
    command: java,
    args: (host, port) => ["-Duser.language=en", "-jar", jar, `--host=${host}`, `--port=${port}`],
  };
}

export const INSTALL_HINT =
  "No Cloud Firestore emulator found. Install one of:\n" +
  "  - the Google Cloud SDK component: `gcloud components install cloud-firestore-emulator`\n" +
  "    (Debian/Ubuntu: `apt-get install google-cloud-cli-firestore-emulator`), Java 17+;\n" +
  "  - firebase-tools (`npx firebase-tools setup:emulators:firestore`), which caches the jar under ~/.cache/firebase/emulators;\n" +
  'or point FIRESTORE_EMULATOR_JAR at the jar, or run the tests under `firebase emulators:exec --only firestore "npm test"`.';

export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once the emulator answers HTTP on `hostPort`, rejects after `timeoutMs`. */
export async function waitUntilReady(hostPort: string, timeoutMs: number, exited?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    const exit = exited?.();
    if (exit) throw new Error(`Firestore emulator exited before it was ready: ${exit}`);
    try {
      const res = await fetch(`http://${hostPort}/`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
      lastError = `HTTP ${res.status}`;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`Firestore emulator at ${hostPort} did not answer within ${timeoutMs} ms (${lastError})`);
}

export interface RunningEmulator {
  hostPort: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * The script (run with `node -e`, so it needs no build: the test harness starts emulators from the
 * sources) that holds the emulator as its child: it ends the emulator when the process that started
 * it ends, however that ends (SIGKILL included), because the IPC channel to that process closes then.
 * It forwards SIGTERM, SIGINT and SIGHUP, sends SIGKILL after 5 s, and exits with the emulator's code.
 */
const TETHER = `
const { spawn } = require("node:child_process");
const [command, ...args] = process.argv.slice(1);
const child = spawn(command, args, { stdio: "inherit" });
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  child.kill("SIGTERM");
  setTimeout(() => child.kill("SIGKILL"), 5000).unref();
};
process.on("disconnect", stop);
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, stop);
child.on("error", (error) => { process.stderr.write(error.message + "\\n"); process.exit(127); });
child.on("exit", (code) => process.exit(code ?? 1));
`;

/**
 * Starts `command` through the tether above, in its own process group (a Ctrl-C in the terminal is
 * for its starter to handle, and `stopProcessGroup` takes the whole group down).
 */
export function spawnTethered(command: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, ["-e", TETHER, "--", command, ...args], {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    detached: true,
  });
  // The channel only tells the tether this process is alive; it must not keep this process alive.
  child.channel?.unref();
  return child;
}

export async function startEmulator(found: EmulatorCommand, timeoutMs = 60_000): Promise<RunningEmulator> {
  const host = "127.0.0.1";
  const port = await freePort(host);
  const child = spawnTethered(found.command, found.args(host, port));
  let output = "";
  let exit: string | undefined;
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("exit", (code, signal) => {
    exit = `code ${code} signal ${signal}\n${output}`;
  });
  child.on("error", (error) => {
    exit = `${error.message}\n${output}`;
  });
  const stop = () => stopProcessGroup(child);
  try {
    await waitUntilReady(`${host}:${port}`, timeoutMs, () => exit);
  } catch (error) {
    await stop();
    throw error;
  }
  return { hostPort: `${host}:${port}`, process: child, stop };
}

/** Stops a detached child and everything it started; SIGKILL if it has not gone after 5 s. */
export async function stopProcessGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  const timer = setTimeout(() => signal("SIGKILL"), 5000);
  await gone;
  clearTimeout(timer);
}

/**
 * Last resort for a parent that exits without stopping the emulator (a crash, an uncaught error).
 * An emulator already stopped is left alone: its group's number is free then, and may be someone else's.
 */
export function killOnExit(emulator: RunningEmulator): void {
  process.once("exit", () => killGroupIfRunning(emulator.process));
}

/** SIGKILL to a detached child's process group, unless the child has exited (then the group is not ours to name). */
export function killGroupIfRunning(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/**
 * Appends a detached child's process group id to the file named by WORKERS_PGID_FILE (set by
 * `.ci/run`), so a supervisor can stop exactly the groups this run started if the run itself is
 * killed before its teardown; nothing else is ever stopped.
 */
export function recordProcessGroup(pgid: number, env: NodeJS.ProcessEnv): void {
  if (env.WORKERS_PGID_FILE) appendFileSync(env.WORKERS_PGID_FILE, `${pgid}\n`);
}

/**
 * The emulator every local tool uses: the one at FIRESTORE_EMULATOR_HOST when it is set (as under
 * `firebase emulators:exec`), checked to be a Firestore emulator, else one started here on a free
 * port, which `stop()` (or the end of this process, however it ends) takes down. Sets
 * FIRESTORE_EMULATOR_HOST for this process and its children. Throws ConfigError (with a hint) when
 * FIRESTORE_EMULATOR_HOST is malformed or not a Firestore emulator, or no emulator is installed.
 */
export async function ensureEmulator(where: EmulatorSearch = {}): Promise<{ hostPort: string; source: string; stop(): Promise<void> }> {
  const env = where.env ?? process.env;
  const { emulatorHost, projectId } = readFirestoreEnv(env);
  if (emulatorHost) {
    await probeEmulator(emulatorHost, projectId ?? DEMO_PROJECT);
    return { hostPort: emulatorHost, source: `the emulator at ${emulatorHost}`, stop: async () => undefined };
  }
  const found = findEmulator(where);
  if (!found) throw new ConfigError(INSTALL_HINT);
  const emulator = await startEmulator(found);
  killOnExit(emulator);
  recordProcessGroup(emulator.process.pid!, env);
  process.env.FIRESTORE_EMULATOR_HOST = emulator.hostPort;
  return { hostPort: emulator.hostPort, source: found.source, stop: emulator.stop };
}
