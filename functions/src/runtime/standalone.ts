import { getApps, initializeApp } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";
import { systemClock } from "../core/clock";
import { ConfigError, parseWorkerConfig, redact } from "../core/config";
import type { WorkerDeps } from "../core/deps";
import { withWorkerSettings } from "../core/firestoreSettings";
import { errorMessage } from "../core/errors";
import { createLogger, type LogOrigin, type Logger } from "../core/logger";
import { DEMO_PROJECT, probeEmulator, readFirestoreEnv, type FirestoreEnv } from "./firestoreEnv";

/**
 * Dependencies of a standalone process (the polling workers, the CLI): Firestore from the standard
 * environment (FIRESTORE_EMULATOR_HOST, GCLOUD_PROJECT, Application Default Credentials) and the
 * configuration from environment variables, both checked before anything runs.
 */

/** How long a real project has to answer at start (token fetch, TLS); the emulator's probe is shorter (firestoreEnv.ts). */
export const PROJECT_PROBE_MS = 20_000;

const PROJECT_HINT =
  "set FIRESTORE_EMULATOR_HOST=host:port for the emulator, or GCLOUD_PROJECT=<project id> with Application Default Credentials (`gcloud auth application-default login`, or GOOGLE_APPLICATION_CREDENTIALS=<service account key file>)";

/** Rejects with `message` when `work` has not settled after `ms`. */
async function within<T>(ms: number, work: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks that Firestore answers before a worker starts: the emulator's probe, or one read with the
 * project and credentials found. Throws a ConfigError with a hint otherwise, instead of letting the
 * SDK retry for a minute in silence.
 */
async function checkFirestore(db: Firestore, found: FirestoreEnv): Promise<void> {
  if (found.emulatorHost) return probeEmulator(found.emulatorHost, found.projectId ?? DEMO_PROJECT);
  try {
    await within(
      PROJECT_PROBE_MS,
      db.doc("workerState/startupProbe").get(),
      `Firestore did not answer within ${PROJECT_PROBE_MS / 1000} s`,
    );
  } catch (error) {
    throw new ConfigError(`cannot reach Firestore (${errorMessage(error).split("\n")[0]}): ${PROJECT_HINT}`, { cause: error });
  }
}

/**
 * Parses the configuration, connects to Firestore and checks it answers. Throws ConfigError (a bad
 * setting, no project, no credentials, no emulator), which entry points turn into exit 2.
 */
export async function createStandaloneDeps(
  origin: LogOrigin,
  env: NodeJS.ProcessEnv = process.env,
  options: { quiet?: boolean } = {},
): Promise<WorkerDeps> {
  const config = parseWorkerConfig(env);
  const found = readFirestoreEnv(env);
  const logger = createLogger({ minSeverity: options.quiet ? "ERROR" : config.LOG_LEVEL, fields: { ...origin } });
  // Off Google Cloud there is no metadata server; against the emulator nothing needs one, and
  // google-auth would warn about the failed lookup.
  if (found.emulatorHost) env.METADATA_SERVER_DETECTION ??= "none";
  const { projectId } = found;
  const app = getApps().find((a) => a.name === "[DEFAULT]") ?? initializeApp(projectId ? { projectId } : undefined);
  // Keepalive and read deadlines: a dead connection cannot hold the worker (core/firestoreSettings.ts).
  const db = withWorkerSettings(getFirestore(app));
  await checkFirestore(db, found);
  logger.info("config.loaded", { projectId: projectId ?? "(from credentials)", emulator: found.emulatorHost ?? null, ...redact(config) });
  return { db, clock: systemClock, logger, config };
}

/** What a standalone worker sends its parent over an IPC channel, if it has one, once it runs. */
export const WORKER_STARTED = "worker.started";

/** How long a worker whose parent has ended waits for its work in hand before it exits 1 regardless. */
export const PARENT_GONE_STOP_MS = 15_000;

/** Why a worker stops: a signal, the parent that started it over an IPC channel is gone, or nobody reads its output. */
type StopReason = NodeJS.Signals | "parent exited" | "output closed";

/**
 * Runs a standalone worker until SIGINT, SIGTERM or SIGHUP (a closed terminal), then lets `stop`
 * finish the work in hand and exits 0. Also stops so when its output is closed (`... | head`) and,
 * when a parent started it with an IPC channel (`npm run local` does), when that channel closes: the
 * parent has ended, however it ended, SIGKILL included (then the work in hand gets at most
 * PARENT_GONE_STOP_MS, since what it talks to may have ended with the parent); such a parent is sent the message
 * `WORKER_STARTED` once the worker runs (whatever LOG_LEVEL hides). A configuration or connection
 * error at start exits 2 with one clear line; a crash exits 1.
 */
export async function runUntilSignal(
  name: string,
  start: () => Promise<{ logger: Logger; done: Promise<void>; stop: () => Promise<unknown> }>,
): Promise<void> {
  let worker: Awaited<ReturnType<typeof start>> | undefined;
  let stopping = false;
  const stopFor = (reason: StopReason) => {
    if (stopping) return;
    stopping = true;
    // During the startup checks: nothing is in hand yet.
    if (!worker) process.exit(0);
    worker.logger.info("worker.signal", { signal: reason });
    if (reason === "parent exited") {
      // The parent may have taken the Firestore emulator with it: the work in hand gets a bounded
      // time; cut short, nothing is lost: a claimed task's lease runs out and another worker takes
      // it, and a signup cache refresh is one transaction, written whole or not at all.
      setTimeout(() => {
        worker!.logger.error("worker.stop_timeout", { signal: reason, waitedMs: PARENT_GONE_STOP_MS });
        process.exit(1);
      }, PARENT_GONE_STOP_MS).unref();
    }
    worker
      .stop()
      .then(() => process.exit(0))
      .catch((error) => {
        worker!.logger.error("worker.stop_failed", { error });
        process.exit(1);
      });
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => stopFor(signal));
  if (process.channel) {
    // The channel only watches the parent: it must not keep this process alive on its own.
    process.channel.unref();
    process.on("disconnect", () => stopFor("parent exited"));
  }
  // EPIPE and the like: later lines go nowhere, and an unhandled stream error would kill the worker mid-task.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => stopFor("output closed"));
  try {
    worker = await start();
  } catch (error) {
    // A setting or the environment to fix is one line; anything else is a fault to debug, with its stack.
    const config = error instanceof ConfigError;
    process.stderr.write(`${name}: ${errorMessage(error)}\n`);
    if (!config && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    process.exit(config ? 2 : 1);
  }
  process.send?.(WORKER_STARTED);
  try {
    await worker.done;
  } catch (error) {
    worker.logger.error("worker.crashed", { error });
    process.exit(1);
  }
}
