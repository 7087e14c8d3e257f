import { getApps, initializeApp } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";
import { systemClock } from "../core/clock";
import { ConfigError, parseWorkerConfig, redact } from "../core/config";
import type { WorkerDeps } from "../core/deps";
import { withWorkerSettings } from "../core/firestoreSettings";
import { errorMessage } from "../core/errors";
import { createLogger, type LogOrigin, type Logger } from "../core/logger";

/**
 * Dependencies of a standalone process (the polling workers, the CLI): Firestore from the standard
 * environment (FIRESTORE_EMULATOR_HOST, GCLOUD_PROJECT, Application Default Credentials) and the
 * configuration from environment variables, both checked before anything runs.
 */

/** How long the emulator has to answer at start; a real project gets longer (token fetch, TLS). */
export const EMULATOR_PROBE_MS = 5000;
export const PROJECT_PROBE_MS = 20_000;

const EMULATOR_HINT = "start it (`firebase emulators:start --only firestore`, or `npm run local` in functions/), or unset FIRESTORE_EMULATOR_HOST to use a real project";
const PROJECT_HINT =
  "set FIRESTORE_EMULATOR_HOST=host:port for the emulator, or GCLOUD_PROJECT=<project id> with Application Default Credentials (`gcloud auth application-default login`, or GOOGLE_APPLICATION_CREDENTIALS=<service account key file>)";

export function projectIdFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const explicit = env.GCLOUD_PROJECT || env.GOOGLE_CLOUD_PROJECT;
  if (explicit) return explicit;
  // Against the emulator with no project named, use the demo project of .firebaserc: never a real one.
  return env.FIRESTORE_EMULATOR_HOST ? "demo-workers" : undefined;
}

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
 * Checks that Firestore answers before a worker starts: the emulator's HTTP endpoint, or one read
 * with the project and credentials found. Throws a ConfigError with a hint otherwise, instead of
 * letting the SDK retry for a minute in silence.
 */
export async function checkFirestore(db: Firestore, env: NodeJS.ProcessEnv): Promise<void> {
  const emulator = env.FIRESTORE_EMULATOR_HOST;
  if (emulator) {
    try {
      await fetch(`http://${emulator}/`, { signal: AbortSignal.timeout(EMULATOR_PROBE_MS) });
    } catch (error) {
      throw new ConfigError(`the Firestore emulator at FIRESTORE_EMULATOR_HOST=${emulator} did not answer within ${EMULATOR_PROBE_MS / 1000} s (${errorMessage(error)}): ${EMULATOR_HINT}`);
    }
    return;
  }
  try {
    await within(PROJECT_PROBE_MS, db.doc("workerState/startupProbe").get(), `Firestore did not answer within ${PROJECT_PROBE_MS / 1000} s`);
  } catch (error) {
    throw new ConfigError(`cannot reach Firestore (${errorMessage(error).split("\n")[0]}): ${PROJECT_HINT}`);
  }
}

/**
 * Parses the configuration, connects to Firestore and checks it answers. Throws ConfigError (a bad
 * setting, no project, no credentials, no emulator), which entry points turn into exit 2.
 */
export async function createStandaloneDeps(origin: LogOrigin, env: NodeJS.ProcessEnv = process.env, options: { quiet?: boolean } = {}): Promise<WorkerDeps> {
  const config = parseWorkerConfig(env);
  const logger = createLogger({ minSeverity: options.quiet ? "ERROR" : config.LOG_LEVEL, fields: { ...origin } });
  // Off Google Cloud there is no metadata server; against the emulator nothing needs one, and
  // google-auth would warn about the failed lookup.
  if (env.FIRESTORE_EMULATOR_HOST) env.METADATA_SERVER_DETECTION ??= "none";
  const projectId = projectIdFromEnv(env);
  const app = getApps().find((a) => a.name === "[DEFAULT]") ?? initializeApp(projectId ? { projectId } : undefined);
  // Keepalive and read deadlines: a dead connection cannot hold the worker (core/firestoreSettings.ts).
  const db = withWorkerSettings(getFirestore(app));
  await checkFirestore(db, env);
  logger.info("config.loaded", { projectId: projectId ?? "(from credentials)", emulator: env.FIRESTORE_EMULATOR_HOST ?? null, ...redact(config) });
  return { db, clock: systemClock, logger, config };
}

/**
 * Runs a standalone worker until SIGINT/SIGTERM, then lets `stop` finish the work in hand and
 * exits 0. A configuration or connection error at start exits 2 with one clear line; a crash exits 1.
 */
export async function runUntilSignal(
  name: string,
  start: () => Promise<{ logger: Logger; done: Promise<void>; stop: () => Promise<unknown> }>,
): Promise<void> {
  let worker: Awaited<ReturnType<typeof start>> | undefined;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    // A signal during the startup checks: nothing is in hand yet.
    if (!worker) process.exit(0);
    worker.logger.info("worker.signal", { signal });
    worker
      .stop()
      .then(() => process.exit(0))
      .catch((error) => {
        worker!.logger.error("worker.stop_failed", { error });
        process.exit(1);
      });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    worker = await start();
  } catch (error) {
    process.stderr.write(`${name}: ${errorMessage(error)}\n`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  }
  try {
    await worker.done;
  } catch (error) {
    worker.logger.error("worker.crashed", { error });
    process.exit(1);
  }
}
