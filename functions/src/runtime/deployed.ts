import { getApps, initializeApp } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";
import { defineBoolean, defineInt, defineSecret, defineString } from "firebase-functions/params";
import { systemClock } from "../core/clock";
import { parseStorageConfig, parseWorkerConfig, workerConfigNames, workerConfigSchema, type StorageConfig } from "../core/config";
import type { WorkerDeps } from "../core/deps";
import { createLogger, severityFromEnv } from "../core/logger";
import type { MediaGCDeps } from "../core/mediaGC/runMediaGC";
import { S3MediaStore, type MediaStore } from "../core/storage/mediaStore";
import { createS3Client } from "../core/storage/s3Client";

/**
 * Dependencies of a deployed function. Every setting is declared as a param, so `firebase deploy`
 * knows its default and reads overrides from functions/.env; at runtime the resolved values are
 * in the environment, and they go through the same zod schema as a standalone process's.
 * (IntParam.value() would turn an unset value into 0, so the schema, not .value(), applies defaults.)
 */
const defaults = workerConfigSchema.parse({});
export const workerParams = workerConfigNames.map((name) => defineInt(name, { default: defaults[name] }));

export const storageParams = [
  defineString("ZATA_ENDPOINT", { description: "Zata (S3-compatible) endpoint URL" }),
  defineString("ZATA_REGION", { default: "us-east-1", description: "Zata region" }),
  defineString("ZATA_BUCKET", { description: "bucket holding canvas media" }),
  defineBoolean("ZATA_FORCE_PATH_STYLE", { default: true, description: "path-style bucket addressing" }),
];
export const zataAccessKeyId = defineSecret("ZATA_ACCESS_KEY_ID");
export const zataSecretAccessKey = defineSecret("ZATA_SECRET_ACCESS_KEY");
/** Attach to every function that touches media storage: `secrets: zataSecrets`. */
export const zataSecrets = [zataAccessKeyId, zataSecretAccessKey];

let db: Firestore | undefined;

export function deployedDeps(worker: string): WorkerDeps {
  db ??= getFirestore(getApps().find((a) => a.name === "[DEFAULT]") ?? initializeApp());
  const logger = createLogger({ minSeverity: severityFromEnv(process.env.LOG_LEVEL), fields: { worker } });
  return { db, clock: systemClock, logger, config: parseWorkerConfig(process.env) };
}

/** Only inside a handler whose function declares `secrets: zataSecrets`. */
export function deployedStorageConfig(): StorageConfig {
  return parseStorageConfig({ ...process.env, ZATA_ACCESS_KEY_ID: zataAccessKeyId.value(), ZATA_SECRET_ACCESS_KEY: zataSecretAccessKey.value() });
}

let store: MediaStore | undefined;

/** Built on first use, so functions that never touch media never need its configuration. */
export function deployedMediaStore(): MediaStore {
  if (!store) {
    const config = deployedStorageConfig();
    store = new S3MediaStore(createS3Client(config), config.ZATA_BUCKET);
  }
  return store;
}

export function deployedMediaGCDeps(): MediaGCDeps {
  return { ...deployedDeps("mediaGC"), store: deployedMediaStore() };
}
