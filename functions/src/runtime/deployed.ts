import { getApps, initializeApp } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";
import { systemClock } from "../core/clock";
import { parseStorageConfig, parseWorkerConfig, type StorageConfig } from "../core/config";
import type { WorkerDeps } from "../core/deps";
import { withWorkerSettings } from "../core/firestoreSettings";
import { createLogger, type LogOrigin } from "../core/logger";
import type { MediaGCDeps } from "../core/mediaGC/runMediaGC";
import type { MediaStore } from "../core/storage/mediaStore";
import { createMediaStore } from "../core/storage/s3Client";
import { functionsLogSink } from "./functionsLogSink";
import { zataAccessKeyId, zataSecretAccessKey } from "./params";

/**
 * Dependencies of a deployed function. The settings arrive as environment variables (the params
 * firebase-tools resolved from functions/.env, runtime/params.ts) and go through the same zod schema
 * as a standalone process's: a bad value fails the function at start with a ConfigError naming the
 * setting, logged with its stack so that Error Reporting shows it.
 */
let db: Firestore | undefined;

/**
 * The default app's Firestore client, with the worker settings (keepalive and read deadlines: a
 * dead connection cannot hold an instance, core/firestoreSettings.ts). Made when this module loads,
 * before any event: firebase-functions builds a trigger's event snapshot on the default app's client
 * if one exists, else on an app of its own with the SDK's default settings, and the mirror writes
 * to the task through that snapshot's ref.
 */
function deployedFirestore(): Firestore {
  db ??= withWorkerSettings(getFirestore(getApps().find((a) => a.name === "[DEFAULT]") ?? initializeApp()));
  return db;
}
deployedFirestore();

/** Reads a configuration; when it is invalid, logs the ConfigError (naming the setting) and rethrows it. */
function configOrFail<T>(origin: LogOrigin, read: () => T): T {
  try {
    return read();
  } catch (error) {
    createLogger({ sink: functionsLogSink, fields: { ...origin } }).error("config.invalid", { error });
    throw error;
  }
}

export function deployedDeps(origin: LogOrigin): WorkerDeps {
  const config = configOrFail(origin, () => parseWorkerConfig(process.env));
  const db = deployedFirestore();
  const logger = createLogger({ sink: functionsLogSink, minSeverity: config.LOG_LEVEL, fields: { ...origin } });
  return { db, clock: systemClock, logger, config };
}

/** Only inside a handler whose function declares `secrets: zataSecrets`. */
export function deployedStorageConfig(): StorageConfig {
  return parseStorageConfig({
    ...process.env,
    ZATA_ACCESS_KEY_ID: zataAccessKeyId.value(),
    ZATA_SECRET_ACCESS_KEY: zataSecretAccessKey.value(),
  });
}

let store: MediaStore | undefined;

/** Built on first use, so functions that never touch media never need its configuration. */
export function deployedMediaStore(): MediaStore {
  if (!store) {
    const config = deployedStorageConfig();
    store = createMediaStore(config);
  }
  return store;
}

export function deployedMediaGCDeps(origin: LogOrigin): MediaGCDeps {
  return { ...deployedDeps(origin), store: configOrFail(origin, deployedMediaStore) };
}
