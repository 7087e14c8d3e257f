import { getApps, initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { systemClock } from "../core/clock";
import { parseWorkerConfig, redact } from "../core/config";
import type { WorkerDeps } from "../core/deps";
import { errorMessage } from "../core/errors";
import { createLogger, severityFromEnv, type Logger } from "../core/logger";

/**
 * Dependencies of a standalone process: Firestore from the standard environment
 * (FIRESTORE_EMULATOR_HOST, GCLOUD_PROJECT, Application Default Credentials) and the
 * configuration from environment variables, validated before anything runs.
 */
export function projectIdFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const explicit = env.GCLOUD_PROJECT || env.GOOGLE_CLOUD_PROJECT;
  if (explicit) return explicit;
  // Against the emulator with no project named, use the demo project of .firebaserc: never a real one.
  return env.FIRESTORE_EMULATOR_HOST ? "demo-workers" : undefined;
}

export function createStandaloneDeps(worker: string, env: NodeJS.ProcessEnv = process.env, options: { quiet?: boolean } = {}): WorkerDeps {
  const logger = createLogger({ minSeverity: options.quiet ? "ERROR" : severityFromEnv(env.LOG_LEVEL), fields: { worker } });
  const config = parseWorkerConfig(env);
  const projectId = projectIdFromEnv(env);
  const app = getApps().find((a) => a.name === "[DEFAULT]") ?? initializeApp(projectId ? { projectId } : undefined);
  const db = getFirestore(app);
  logger.info("config.loaded", { projectId: projectId ?? "(from credentials)", emulator: env.FIRESTORE_EMULATOR_HOST ?? null, ...redact(config) });
  return { db, clock: systemClock, logger, config };
}

/**
 * Runs a standalone worker until SIGINT/SIGTERM, then lets `stop` finish the work in hand and
 * exits 0. A configuration error exits 2 with one clear line; a crash exits 1.
 */
export async function runUntilSignal(
  name: string,
  start: () => { logger: Logger; done: Promise<void>; stop: () => Promise<unknown> },
): Promise<void> {
  let worker: ReturnType<typeof start>;
  try {
    worker = start();
  } catch (error) {
    process.stderr.write(`${name}: ${errorMessage(error)}\n`);
    process.exit(2);
  }
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    worker.logger.info("worker.signal", { signal });
    worker
      .stop()
      .then(() => process.exit(0))
      .catch((error) => {
        worker.logger.error("worker.stop_failed", { error: errorMessage(error) });
        process.exit(1);
      });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await worker.done;
  } catch (error) {
    worker.logger.error("worker.crashed", { error: errorMessage(error) });
    process.exit(1);
  }
}
