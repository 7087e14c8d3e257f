import { z } from "zod";
import { ConfigError } from "./errors";
import { severities } from "./logger";

/**
 * Every setting of the workers, declared once: name, default, bounds, description, and who reads it.
 *
 * - `functions: true`: the deployed Cloud Functions read it, so it is a firebase-functions param
 *   (runtime/params.ts) and functions/.env carries its value (dev/deployEnv.ts writes that file
 *   from this table; a test keeps them equal).
 * - `functions: false`: only standalone processes (the polling worker, the signup-cache worker, the
 *   CLI) read it, from their environment; it is not a deploy param.
 *
 * Deployed functions and standalone processes both end in `parseWorkerConfig` / `parseStorageConfig`,
 * so a bad value is refused the same way everywhere, with a message naming the setting.
 */
interface Setting<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** The param type firebase-functions declares it with. */
  kind: "int" | "string" | "boolean" | "select";
  /** The default as firebase-tools and functions/.env spell it. */
  default: string;
  description: string;
  functions: boolean;
  /** Integers: the bounds, for requests that override the setting for one run (the runWorker callable, the CLI). */
  bounds?: { min: number; max: number };
}

/**
 * A whole number from 1 to `max`, written in decimal digits only: `0x10`, `1e3`, `0b11`, ` 5` and `5.0`
 * are refused, because firebase-tools and firebase-functions would read them differently (`1e3` is 1000
 * to one and 1 to the other) and a deployed function must mean what its .env says.
 */
const positiveInt = (name: string, fallback: number, max: number, description: string, functions: boolean) => {
  const error = `${name} must be a number from 1 to ${max} (digits only)`;
  return {
    schema: z
      .preprocess(
        (v) => (typeof v === "string" && /^[0-9]+$/.test(v) ? Number(v) : v),
        z.int({ error }).min(1, { error }).max(max, { error }),
      )
      .default(fallback),
    kind: "int",
    default: String(fallback),
    description: `${description} (1-${max})`,
    functions,
    bounds: { min: 1, max },
  } satisfies Setting;
};

/** `true` or `false`, nothing else: firebase-tools reads any other spelling as false at deploy (`TRUE`, `0`) or true (`yes`). */
const booleanString = (name: string) =>
  z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean({ error: `${name} must be true or false` }));

const LOG_LEVEL_ERROR = `LOG_LEVEL must be one of ${severities.join(", ")} (any case; WARN for WARNING)`;
const logLevel = {
  schema: z
    .string({ error: LOG_LEVEL_ERROR })
    .transform((v) => (v.toUpperCase() === "WARN" ? "WARNING" : v.toUpperCase()))
    .pipe(z.enum(severities, { error: LOG_LEVEL_ERROR }))
    .default("INFO"),
  kind: "select",
  default: "INFO",
  description: `lowest severity written to the logs: ${severities.join(", ")} (any case; WARN for WARNING)`,
  functions: true,
} satisfies Setting;

export const workerSettings = {
  MIRROR_POLL_INTERVAL_MS: positiveInt(
    "MIRROR_POLL_INTERVAL_MS",
    2500,
    3_600_000,
    "standalone mirror worker: poll interval while work flows, ms",
    false,
  ),
  MIRROR_MAX_BACKOFF_MS: positiveInt(
    "MIRROR_MAX_BACKOFF_MS",
    15000,
    3_600_000,
    "standalone mirror worker: longest wait between polls of an empty queue, ms",
    false,
  ),
  MIRROR_BATCH_LIMIT: positiveInt("MIRROR_BATCH_LIMIT", 12, 500, "standalone mirror worker: tasks fetched per poll", false),
  MIRROR_POOL_SIZE: positiveInt(
    "MIRROR_POOL_SIZE",
    4,
    100,
    "standalone mirror worker: transactions at once (each applies up to 25 new tasks, or one leased task)",
    false,
  ),
  MIRROR_MAX_ATTEMPTS: positiveInt("MIRROR_MAX_ATTEMPTS", 5, 100, "mirror tasks: attempts before a task becomes a dead letter", true),
  MIRROR_LEASE_MS: positiveInt(
    "MIRROR_LEASE_MS",
    60_000,
    3_600_000,
    "mirror tasks: how long a claim lasts before another worker may take the task over, ms",
    true,
  ),
  WORKER_HEARTBEAT_MS: positiveInt("WORKER_HEARTBEAT_MS", 60_000, 3_600_000, "standalone workers: heartbeat log interval, ms", false),
  MIRROR_SHUTDOWN_GRACE_MS: positiveInt(
    "MIRROR_SHUTDOWN_GRACE_MS",
    10_000,
    600_000,
    "standalone mirror worker: how long shutdown waits for the batch in hand, ms",
    false,
  ),
  MEDIA_GC_TTL_DAYS: positiveInt("MEDIA_GC_TTL_DAYS", 30, 36500, "media GC: minimum age of unreferenced media, days", true),
  MEDIA_GC_BATCH_SIZE: positiveInt("MEDIA_GC_BATCH_SIZE", 100, 1000, "media GC: media per batch", true),
  SNAPSHOT_MAX_OPS: positiveInt("SNAPSHOT_MAX_OPS", 100, 1_000_000, "canvas snapshots: snapshot a project after this many ops", true),
  SNAPSHOT_MAX_HOURS: positiveInt(
    "SNAPSHOT_MAX_HOURS",
    24,
    24 * 365,
    "canvas snapshots: or after this many hours since the last snapshot",
    true,
  ),
  SNAPSHOT_BATCH_SIZE: positiveInt("SNAPSHOT_BATCH_SIZE", 50, 500, "canvas snapshots: projects per run", true),
  SNAPSHOT_KEEP: positiveInt("SNAPSHOT_KEEP", 10, 1000, "canvas snapshots: snapshots kept per project", true),
  // Below 2^31 ms, the longest timer Node can set.
  SIGNUP_CACHE_REFRESH_MS: positiveInt(
    "SIGNUP_CACHE_REFRESH_MS",
    86_400_000,
    7 * 86_400_000,
    "standalone signup-cache worker: refresh interval, ms",
    false,
  ),
  LOG_LEVEL: logLevel,
};

type SchemaOf<T extends Record<string, Setting>> = { [K in keyof T]: T[K]["schema"] };
const schemaOf = <T extends Record<string, Setting>>(settings: T) =>
  z.object(Object.fromEntries(Object.entries(settings).map(([k, s]) => [k, s.schema])) as SchemaOf<T>);

export const workerConfigSchema = schemaOf(workerSettings);
export type WorkerConfig = z.infer<typeof workerConfigSchema>;
export type WorkerConfigName = keyof WorkerConfig;
export const workerConfigNames = Object.keys(workerSettings) as WorkerConfigName[];

/** An endpoint is the store's base URL: credentials go in their own settings, and a query or fragment would be dropped. */
const isBaseUrl = (value: string) => {
  // A value that is no URL at all was already refused by the URL check (zod runs every check).
  if (!URL.canParse(value)) return true;
  const url = new URL(value);
  return !url.username && !url.password && !url.search && !url.hash;
};

const requiredString = (name: string) => z.string({ error: `${name} is required` }).min(1, { error: `${name} is required` });

/** Zata (S3-compatible) media storage. Only the workers that touch storage require it. */
export const storageSettings = {
  ZATA_ENDPOINT: {
    schema: z
      .url({
        protocol: /^https?$/,
        error: (issue) =>
          issue.input === undefined
            ? "ZATA_ENDPOINT is required"
            : "ZATA_ENDPOINT must be a URL with http or https, e.g. https://s3.example.com",
      })
      .refine(isBaseUrl, { error: "ZATA_ENDPOINT must be the store's base URL, without credentials, query or fragment" }),
    kind: "string",
    default: "",
    description: "media storage (Zata, S3-compatible) endpoint URL, e.g. https://s3.example.com; required by the media GC",
    functions: true,
  },
  ZATA_REGION: {
    // The AWS SDK signs with the region and puts it in host names: it takes a host label only.
    schema: z
      .string()
      .regex(/^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/, {
        error: "ZATA_REGION must be a region name: letters, digits and inner hyphens, e.g. us-east-1",
      })
      .default("us-east-1"),
    kind: "string",
    default: "us-east-1",
    description: "media storage region",
    functions: true,
  },
  ZATA_BUCKET: {
    // S3's bucket rules, plus the capitals and underscores of older buckets some providers still serve.
    schema: requiredString("ZATA_BUCKET").regex(/^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/, {
      error:
        "ZATA_BUCKET must be a bucket name: 3-63 letters, digits, dots, hyphens or underscores, starting and ending with a letter or digit",
    }),
    kind: "string",
    default: "",
    description: "media storage bucket holding canvas media; required by the media GC",
    functions: true,
  },
  ZATA_FORCE_PATH_STYLE: {
    schema: booleanString("ZATA_FORCE_PATH_STYLE").default(true),
    kind: "boolean",
    default: "true",
    description: "path-style bucket addressing (most S3-compatible providers need it): true or false",
    functions: true,
  },
  ZATA_REQUEST_TIMEOUT_MS: positiveInt(
    "ZATA_REQUEST_TIMEOUT_MS",
    30_000,
    600_000,
    "media storage: longest wait for a connection, and for one request's answer, before it counts as failed (and is retried), ms",
    true,
  ),
} satisfies Record<string, Setting>;

/** Secret Manager secrets when deployed, plain environment variables for standalone processes. */
export const secretSettings = {
  ZATA_ACCESS_KEY_ID: { schema: requiredString("ZATA_ACCESS_KEY_ID"), description: "media storage access key id" },
  ZATA_SECRET_ACCESS_KEY: { schema: requiredString("ZATA_SECRET_ACCESS_KEY"), description: "media storage secret access key" },
};
export const secretNames = Object.keys(secretSettings) as (keyof typeof secretSettings)[];

export const storageConfigSchema = z.object({
  ...schemaOf(storageSettings).shape,
  ZATA_ACCESS_KEY_ID: secretSettings.ZATA_ACCESS_KEY_ID.schema,
  ZATA_SECRET_ACCESS_KEY: secretSettings.ZATA_SECRET_ACCESS_KEY.schema,
});
export type StorageConfig = z.infer<typeof storageConfigSchema>;
export const storageConfigNames = Object.keys(storageConfigSchema.shape) as (keyof StorageConfig)[];

/**
 * Settings only `firebase deploy` reads (function options), not the workers. Cloud Functions region
 * names: https://firebase.google.com/docs/functions/locations.
 */
export const deploySettings = {
  FUNCTIONS_REGION: {
    schema: z
      .string({ error: "FUNCTIONS_REGION is required" })
      .regex(/^[a-z]+-[a-z]+\d+$/, { error: "FUNCTIONS_REGION must be a Cloud Functions region, e.g. us-central1" }),
    kind: "string",
    default: "us-central1",
    description: "region of every function: the one nearest your Firestore database (e.g. us-central1, europe-west1, asia-south1)",
    functions: true,
  },
  RUNWORKER_ENFORCE_APP_CHECK: {
    schema: booleanString("RUNWORKER_ENFORCE_APP_CHECK").default(false),
    kind: "boolean",
    default: "false",
    description: "runWorker callable: reject calls without a valid App Check token (true or false)",
    functions: true,
  },
} satisfies Record<string, Setting>;

/** Every deploy param but the secrets, with its default and description, in declaration order. */
export const functionParamSettings: Record<string, Setting> = Object.fromEntries(
  Object.entries({ ...deploySettings, ...workerSettings, ...storageSettings }).filter(([, s]) => s.functions),
);

/** Validates the values deploy will use (functions/.env and per-project files) before they reach a function. */
const deployConfigSchema = z.object(Object.fromEntries(Object.entries(functionParamSettings).map(([k, s]) => [k, s.schema])));

export { ConfigError };

type Source = Record<string, string | number | boolean | undefined>;

function parseWith<S extends z.ZodType>(schema: S, source: Source, what: string): z.infer<S> {
  // Empty strings mean "not set": an unset param or an `X=` line in .env falls back to the default.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ""));
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  // Each message names its setting ("X must be ..."); the path is only added to one that does not.
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join(".") || "(root)";
    return issue.message.startsWith(name) ? issue.message : `${name}: ${issue.message}`;
  });
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

/** The values a deploy uses, checked as the functions will check them (ZATA_ENDPOINT and ZATA_BUCKET required). */
export function parseDeployConfig(source: Source): Record<string, unknown> {
  return parseWith(
    deployConfigSchema,
    pick(source, Object.keys(deployConfigSchema.shape)),
    "deploy (functions/.env, functions/.env.<projectId>)",
  );
}

type DeployOption = keyof typeof deploySettings;

/** One function option (e.g. RUNWORKER_ENFORCE_APP_CHECK), read when the functions' module loads; ConfigError naming it when invalid. */
export function parseDeployOption<K extends DeployOption>(name: K, source: Source): z.infer<(typeof deploySettings)[K]["schema"]> {
  const parsed = parseWith(z.object({ [name]: deploySettings[name].schema }), pick(source, [name]), "function option");
  return (parsed as Record<string, z.infer<(typeof deploySettings)[K]["schema"]>>)[name];
}

/** The configuration as safe to log: secrets replaced by whether they are set. */
export function redact(config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => [k, (secretNames as readonly string[]).includes(k) ? (v ? "<set>" : "<unset>") : v]),
  );
}
