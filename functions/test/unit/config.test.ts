import { parseRunWorkerRequest } from "../../src/core/manualRun/request";
import { ConfigError, functionParamSettings, parseDeployConfig, parseStorageConfig, parseWorkerConfig, redact, workerSettings } from "../../src/core/config";

describe("configuration", () => {
  it("has the seed's defaults", () => {
    expect(parseWorkerConfig({})).toMatchObject({
      MIRROR_POLL_INTERVAL_MS: 2500,
      MIRROR_MAX_BACKOFF_MS: 15000,
      MIRROR_BATCH_LIMIT: 12,
      MIRROR_POOL_SIZE: 4,
      MIRROR_MAX_ATTEMPTS: 5,
      MEDIA_GC_TTL_DAYS: 30,
      MEDIA_GC_BATCH_SIZE: 100,
      SNAPSHOT_MAX_OPS: 100,
      SNAPSHOT_MAX_HOURS: 24,
      SNAPSHOT_BATCH_SIZE: 50,
      SIGNUP_CACHE_REFRESH_MS: 86_400_000,
    });
  });

  it("reads overrides from strings and treats empty as unset", () => {
    expect(parseWorkerConfig({ MIRROR_POOL_SIZE: "8", MIRROR_BATCH_LIMIT: "" })).toMatchObject({ MIRROR_POOL_SIZE: 8, MIRROR_BATCH_LIMIT: 12 });
  });

  it.each([
    [{ MIRROR_POOL_SIZE: "abc" }, "MIRROR_POOL_SIZE must be a number"],
    [{ MIRROR_POOL_SIZE: "0" }, "MIRROR_POOL_SIZE must be >= 1"],
    [{ MIRROR_BATCH_LIMIT: "2.5" }, "MIRROR_BATCH_LIMIT must be an integer"],
  ])("refuses %j with a message naming the setting", (env, message) => {
    expect(() => parseWorkerConfig(env)).toThrow(ConfigError);
    expect(() => parseWorkerConfig(env)).toThrow(message);
  });

  it("requires the storage settings, defaults path-style on, and redacts secrets", () => {
    expect(() => parseStorageConfig({})).toThrow(/ZATA_ENDPOINT.*ZATA_BUCKET/s);
    const config = parseStorageConfig({ ZATA_ENDPOINT: "http://localhost:9", ZATA_BUCKET: "bkt", ZATA_ACCESS_KEY_ID: "k", ZATA_SECRET_ACCESS_KEY: "s" });
    expect(config.ZATA_FORCE_PATH_STYLE).toBe(true);
    expect(parseStorageConfig({ ...config, ZATA_FORCE_PATH_STYLE: "false" }).ZATA_FORCE_PATH_STYLE).toBe(false);
    expect(redact(config)).toMatchObject({ ZATA_ACCESS_KEY_ID: "<set>", ZATA_SECRET_ACCESS_KEY: "<set>", ZATA_BUCKET: "bkt" });
  });

  const storage = { ZATA_ENDPOINT: "https://s3.example.com", ZATA_BUCKET: "media", ZATA_ACCESS_KEY_ID: "k", ZATA_SECRET_ACCESS_KEY: "s" };
  it.each([
    [{ ZATA_ENDPOINT: "ftp://127.0.0.1:1" }, "ZATA_ENDPOINT must be a URL with http or https"],
    [{ ZATA_ENDPOINT: "s3.example.com" }, "ZATA_ENDPOINT must be a URL with http or https"],
    [{ ZATA_ENDPOINT: "https://key:secret@s3.example.com" }, "ZATA_ENDPOINT must be the store's base URL, without credentials, query or fragment"],
    [{ ZATA_ENDPOINT: "https://s3.example.com/?x=1" }, "ZATA_ENDPOINT must be the store's base URL"],
    [{ ZATA_REGION: "us east 1!" }, "ZATA_REGION must be a region name"],
    [{ ZATA_REGION: "us-east-1-" }, "ZATA_REGION must be a region name"],
    [{ ZATA_BUCKET: "media/x" }, "ZATA_BUCKET must be a bucket name"],
    [{ ZATA_BUCKET: "ab" }, "ZATA_BUCKET must be a bucket name"],
    [{ ZATA_BUCKET: "a..b" }, "ZATA_BUCKET must be a bucket name"],
    [{ ZATA_BUCKET: "-media" }, "ZATA_BUCKET must be a bucket name"],
  ])("refuses the storage setting %j, naming it", (over, message) => {
    expect(() => parseStorageConfig({ ...storage, ...over })).toThrow(ConfigError);
    expect(() => parseStorageConfig({ ...storage, ...over })).toThrow(message);
  });

  it.each([{ ZATA_ENDPOINT: "http://127.0.0.1:4568" }, { ZATA_ENDPOINT: "https://s3.example.com/base" }, { ZATA_REGION: "auto" }, { ZATA_REGION: "idr01" }, { ZATA_BUCKET: "my.media-bucket_1" }, { ZATA_BUCKET: "Legacy_Bucket" }])(
    "accepts the storage setting %j",
    (over) => {
      expect(parseStorageConfig({ ...storage, ...over })).toMatchObject(over);
    },
  );

  it("reads LOG_LEVEL in any case, WARN as WARNING, and refuses anything else", () => {
    expect(parseWorkerConfig({ LOG_LEVEL: "debug" }).LOG_LEVEL).toBe("DEBUG");
    expect(parseWorkerConfig({ LOG_LEVEL: "warn" }).LOG_LEVEL).toBe("WARNING");
    expect(parseWorkerConfig({}).LOG_LEVEL).toBe("INFO");
    expect(() => parseWorkerConfig({ LOG_LEVEL: "verbose" })).toThrow("LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR");
  });

  it("makes deploy params of the settings deployed functions read, and only those", () => {
    const standaloneOnly = Object.entries(workerSettings).filter(([, s]) => !s.functions).map(([name]) => name);
    expect(standaloneOnly.sort()).toEqual(["MIRROR_BATCH_LIMIT", "MIRROR_MAX_BACKOFF_MS", "MIRROR_POLL_INTERVAL_MS", "MIRROR_POOL_SIZE", "MIRROR_SHUTDOWN_GRACE_MS", "SIGNUP_CACHE_REFRESH_MS", "WORKER_HEARTBEAT_MS"]);
    for (const name of standaloneOnly) expect(functionParamSettings).not.toHaveProperty(name);
    for (const [name, s] of Object.entries(functionParamSettings)) expect({ name, described: s.description.length > 10 }).toEqual({ name, described: true });
  });

  it("checks the values a deploy uses, storage included", () => {
    const defaults = Object.fromEntries(Object.entries(functionParamSettings).map(([name, s]) => [name, s.default]));
    expect(() => parseDeployConfig(defaults)).toThrow(/ZATA_ENDPOINT must be a URL.*ZATA_BUCKET is required/);
    expect(parseDeployConfig({ ...defaults, ZATA_ENDPOINT: "https://s3.example.com", ZATA_BUCKET: "media" })).toMatchObject({ FUNCTIONS_REGION: "us-central1", MIRROR_MAX_ATTEMPTS: 5 });
  });
});

describe("a manual run's overrides take the setting's bounds", () => {
  it.each([
    ["mediaGC", "ttlDays", "MEDIA_GC_TTL_DAYS", 36_500],
    ["mediaGC", "batchSize", "MEDIA_GC_BATCH_SIZE", 1000],
    ["snapshots", "batchSize", "SNAPSHOT_BATCH_SIZE", 500],
  ] as const)("%s %s and %s accept 1 to %d alike", (worker, field, setting, max) => {
    for (const value of [1, max]) {
      expect(parseRunWorkerRequest({ worker, [field]: value }).ok).toBe(true);
      expect(parseWorkerConfig({ [setting]: value })[setting]).toBe(value);
    }
    for (const value of [0, max + 1]) {
      expect(parseRunWorkerRequest({ worker, [field]: value })).toMatchObject({ ok: false, error: expect.stringContaining(`${field}: ${field} must be`) });
      expect(() => parseWorkerConfig({ [setting]: value })).toThrow(`${setting} must be`);
    }
  });
});
