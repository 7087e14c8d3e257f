import { z } from "zod";
import { ConfigError } from "./errors";

/**
 * Every tunable of the workers, declared once with the seed's defaults.
 * Deployed functions read these names through firebase-functions/params, standalone
 * processes through the environment; both paths end in `parseWorkerConfig`.
 */
const positiveInt = (name: string, fallback: number, max: number) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int({ error: `${name} must be an integer` })
    .min(1, { error: `${name} must be >= 1` })
    .max(max, { error: `${name} must be <= ${max}` })
    .default(fallback);

export const workerConfigSchema = z.object({
  MIRROR_POLL_INTERVAL_MS: positiveInt("MIRROR_POLL_INTERVAL_MS", 2500, 3_600_000),
  MIRROR_MAX_BACKOFF_MS: positiveInt("MIRROR_MAX_BACKOFF_MS", 15000, 3_600_000),
  MIRROR_BATCH_LIMIT: positiveInt("MIRROR_BATCH_LIMIT", 12, 500),
  MIRROR_POOL_SIZE: positiveInt("MIRROR_POOL_SIZE", 4, 100),
  MIRROR_MAX_ATTEMPTS: positiveInt("MIRROR_MAX_ATTEMPTS", 5, 100),
  MIRROR_LEASE_MS: positiveInt("MIRROR_LEASE_MS", 60_000, 3_600_000),
  WORKER_HEARTBEAT_MS: positiveInt("WORKER_HEARTBEAT_MS", 60_000, 3_600_000),
  MIRROR_SHUTDOWN_GRACE_MS: positiveInt("MIRROR_SHUTDOWN_GRACE_MS", 10_000, 600_000),
  MEDIA_GC_TTL_DAYS: positiveInt("MEDIA_GC_TTL_DAYS", 30, 36500),
  MEDIA_GC_BATCH_SIZE: positiveInt("MEDIA_GC_BATCH_SIZE", 100, 1000),
  SNAPSHOT_MAX_OPS: positiveInt("SNAPSHOT_MAX_OPS", 100, 1_000_000),
  SNAPSHOT_MAX_HOURS: positiveInt("SNAPSHOT_MAX_HOURS", 24, 24 * 365),
  SNAPSHOT_BATCH_SIZE: positiveInt("SNAPSHOT_BATCH_SIZE", 50, 500),
  SNAPSHOT_KEEP: positiveInt("SNAPSHOT_KEEP", 10, 1000),
  // Below 2^31 ms, the longest timer Node can set.
  SIGNUP_CACHE_REFRESH_MS: positiveInt("SIGNUP_CACHE_REFRESH_MS", 86_400_000, 7 * 86_400_000),
});

export type WorkerConfig = z.infer<typeof workerConfigSchema>;
export type WorkerConfigName = keyof WorkerConfig;
export const workerConfigNames = Object.keys(workerConfigSchema.shape) as WorkerConfigName[];

const booleanString = (name: string) =>
  z
    .union([z.boolean(), z.enum(["true", "false", "1", "0"], { error: `${name} must be true or false` })])
    .transform((v) => v === true || v === "true" || v === "1");

/** Zata (S3-compatible) media storage. Only the workers that touch storage require it. */
export const storageConfigSchema = z.object({
  ZATA_ENDPOINT: z.url({ error: "ZATA_ENDPOINT must be a URL, e.g. https://s3.example.com" }),
  ZATA_REGION: z.string().min(1).default("us-east-1"),
  ZATA_BUCKET: z.string({ error: "ZATA_BUCKET is required" }).min(1, { error: "ZATA_BUCKET is required" }),
  ZATA_ACCESS_KEY_ID: z.string({ error: "ZATA_ACCESS_KEY_ID is required" }).min(1, { error: "ZATA_ACCESS_KEY_ID is required" }),
  ZATA_SECRET_ACCESS_KEY: z
    .string({ error: "ZATA_SECRET_ACCESS_KEY is required" })
    .min(1, { error: "ZATA_SECRET_ACCESS_KEY is required" }),
  ZATA_FORCE_PATH_STYLE: booleanString("ZATA_FORCE_PATH_STYLE").default(true),
  /** Longest wait for a connection, and for one storage request's answer, before it counts as failed (and is retried). */
  ZATA_REQUEST_TIMEOUT_MS: positiveInt("ZATA_REQUEST_TIMEOUT_MS", 30_000, 600_000),
});

export type StorageConfig = z.infer<typeof storageConfigSchema>;
export const storageConfigNames = Object.keys(storageConfigSchema.shape) as (keyof StorageConfig)[];
export const secretNames = ["ZATA_ACCESS_KEY_ID", "ZATA_SECRET_ACCESS_KEY"] as const;

export { ConfigError };

type Source = Record<string, string | number | boolean | undefined>;

function parseWith<S extends z.ZodType>(schema: S, source: Source, what: string): z.infer<S> {
  // Empty strings mean "not set": an unset param or an `X=` line in .env falls back to the default.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ""));
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`);
  throw new ConfigError(`invalid ${what} configuration: ${problems.join("; ")}`);
}

function pick(source: Source, names: readonly string[]): Source {
  return Object.fromEntries(names.map((n) => [n, source[n]]));
}

export function parseWorkerConfig(source: Source): WorkerConfig {
  return parseWith(workerConfigSchema, pick(source, workerConfigNames), "worker");
}

export function parseStorageConfig(source: Source): StorageConfig {
  return parseWith(storageConfigSchema, pick(source, storageConfigNames), "storage");
}

/** The configuration as safe to log: secrets replaced by whether they are set. */
export function redact(config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => [k, (secretNames as readonly string[]).includes(k) ? (v ? "<set>" : "<unset>") : v]),
  );
}
