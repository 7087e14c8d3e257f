import { parseRunWorkerRequest } from "../../src/core/manualRun/request";
import {
  ConfigError,
  functionParamSettings,
  parseDeployConfig,
  parseDeployOption,
  parseStorageConfig,
  parseWorkerConfig,
  redact,
  workerSettings,
} from "../../src/core/config";

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
    expect(parseWorkerConfig({ MIRROR_POOL_SIZE: "8", MIRROR_BATCH_LIMIT: "" })).toMatchObject({
      MIRROR_POOL_SIZE: 8,
      MIRROR_BATCH_LIMIT: 12,
    });
  });

  it.each([
    [{ MIRROR_POOL_SIZE: "abc" }, "MIRROR_POOL_SIZE must be a number from 1 to 100 (digits only)"],
    [{ MIRROR_POOL_SIZE: "0" }, "MIRROR_POOL_SIZE must be a number from 1 to 100 (digits only)"],
    [{ MIRROR_BATCH_LIMIT: "2.5" }, "MIRROR_BATCH_LIMIT must be a number from 1 to 500 (digits only)"],
  ])("refuses %j with a message naming the setting and its allowed values", (env, message) => {
    expect(() => parseWorkerConfig(env)).toThrow(ConfigError);
    expect(() => parseWorkerConfig(env)).toThrow(message);
  });

  // firebase-tools reads an int param with `+value` and firebase-functions with parseInt: `1e3` is 1000
  // to one and 1 to the other, so anything but plain digits would let deploy and runtime disagree.
  it("accepts only decimal digits in an integer setting", () => {
    const values = [
      "0x10",
      "1e3",
      "0b11",
      "0o7",
      " 5",
      "5 ",
      "+5",
      "5.0",
      "1_000",
      "\uff15",
      "\u0665",
      "Infinity",
      "9".repeat(5000),
      "-1",
      "0",
      "abc",
    ];
    const accepted = values.filter((value) => {
      try {
        parseWorkerConfig({ MIRROR_BATCH_LIMIT: value });
        return true;
      } catch (error) {
        expect(String(error)).toContain("MIRROR_BATCH_LIMIT must be a number from 1 to 500 (digits only)");
        return false;
      }
    });
    expect(accepted).toEqual([]);
  });

  it("reads decimal digits, leading zeros included", () => {
    expect(parseWorkerConfig({ MIRROR_BATCH_LIMIT: "007", MIRROR_POOL_SIZE: "100" })).toMatchObject({
      MIRROR_BATCH_LIMIT: 7,
      MIRROR_POOL_SIZE: 100,
    });
  });

  it.each(["maybe", "TRUE", "True", "yes", "1", "0", " true", "false "])(
    "accepts only true or false in a boolean setting, not %j",
    (value) => {
      expect(() => parseDeployOption("RUNWORKER_ENFORCE_APP_CHECK", { RUNWORKER_ENFORCE_APP_CHECK: value })).toThrow(
        "RUNWORKER_ENFORCE_APP_CHECK must be true or false",
      );
    },
  );

  /** A value no setting of its kind accepts. */
  const badValue = { int: "0x10", boolean: "maybe", select: "bogus", string: undefined } as const;
  const allowed = (name: string, kind: string) =>
    kind === "int"
      ? `${name} must be a number from 1 to `
      : kind === "boolean"
        ? `${name} must be true or false`
        : `${name} must be one of DEBUG, INFO, WARNING, ERROR`;

  it.each([
    ["the standalone processes", workerSettings, parseWorkerConfig],
    ["a deploy", functionParamSettings, parseDeployConfig],
  ] as const)(
    "reports every bad integer, boolean and log level of %s at once, each naming the setting and what it may be",
    (_, settings, parse) => {
      const bad = Object.entries(settings as Record<string, { kind: keyof typeof badValue }>).filter(
        ([, s]) => badValue[s.kind] !== undefined,
      );
      expect(bad.length).toBeGreaterThan(5);
      let message = "";
      try {
        parse(Object.fromEntries(bad.map(([name, s]) => [name, badValue[s.kind]])));
      } catch (error) {
        message = error instanceof ConfigError ? error.message : String(error);
      }
      for (const [name, s] of bad) expect({ name, named: message.includes(allowed(name, s.kind)) }).toEqual({ name, named: true });
      expect(message).not.toMatch(/Invalid input|expected/);
    },
  );

  it("requires the storage settings, defaults path-style on, and redacts secrets", () => {
    expect(() => parseStorageConfig({})).toThrow(/ZATA_ENDPOINT.*ZATA_BUCKET/s);
    const config = parseStorageConfig({
      ZATA_ENDPOINT: "http://localhost:9",
      ZATA_BUCKET: "bkt",
      ZATA_ACCESS_KEY_ID: "k",
      ZATA_SECRET_ACCESS_KEY: "s",
    });
    expect(config.ZATA_FORCE_PATH_STYLE).toBe(true);
    expect(parseStorageConfig({ ...config, ZATA_FORCE_PATH_STYLE: "false" }).ZATA_FORCE_PATH_STYLE).toBe(false);
    expect(() => parseStorageConfig({ ...config, ZATA_FORCE_PATH_STYLE: "maybe" })).toThrow("ZATA_FORCE_PATH_STYLE must be true or false");
    expect(redact(config)).toMatchObject({ ZATA_ACCESS_KEY_ID: "<set>", ZATA_SECRET_ACCESS_KEY: "<set>", ZATA_BUCKET: "bkt" });
  });

  const storage = { ZATA_ENDPOINT: "https://s3.example.com", ZATA_BUCKET: "media", ZATA_ACCESS_KEY_ID: "k", ZATA_SECRET_ACCESS_KEY: "s" };
  it.each([
    [{ ZATA_ENDPOINT: "ftp://127.0.0.1:1" }, "ZATA_ENDPOINT must be a URL with http or https"],
    [{ ZATA_ENDPOINT: "s3.example.com" }, "ZATA_ENDPOINT must be a URL with http or https"],
    [
      { ZATA_ENDPOINT: "https://key:secret@s3.example.com" },
      "ZATA_ENDPOINT must be the store's base URL, without credentials, query or fragment",
    ],
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

  it.each([
    { ZATA_ENDPOINT: "http://127.0.0.1:4568" },
    { ZATA_ENDPOINT: "https://s3.example.com/base" },
    { ZATA_REGION: "auto" },
    { ZATA_REGION: "idr01" },
    { ZATA_BUCKET: "my.media-bucket_1" },
    { ZATA_BUCKET: "Legacy_Bucket" },
  ])("accepts the storage setting %j", (over) => {
    expect(parseStorageConfig({ ...storage, ...over })).toMatchObject(over);
  });

  it("reads LOG_LEVEL in any case, WARN as WARNING, and refuses anything else", () => {
    expect(parseWorkerConfig({ LOG_LEVEL: "debug" }).LOG_LEVEL).toBe("DEBUG");
    expect(parseWorkerConfig({ LOG_LEVEL: "warn" }).LOG_LEVEL).toBe("WARNING");
    expect(parseWorkerConfig({}).LOG_LEVEL).toBe("INFO");
    expect(() => parseWorkerConfig({ LOG_LEVEL: "verbose" })).toThrow(
      "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR (any case; WARN for WARNING)",
    );
  });

  it("makes deploy params of the settings deployed functions read, and only those", () => {
    const standaloneOnly = Object.entries(workerSettings)
      .filter(([, s]) => !s.functions)
      .map(([name]) => name);
    expect(standaloneOnly.sort()).toEqual([
      "MIRROR_BATCH_LIMIT",
      "MIRROR_MAX_BACKOFF_MS",
      "MIRROR_POLL_INTERVAL_MS",
      "MIRROR_POOL_SIZE",
      "MIRROR_SHUTDOWN_GRACE_MS",
      "SIGNUP_CACHE_REFRESH_MS",
      "WORKER_HEARTBEAT_MS",
    ]);
    for (const name of standaloneOnly) expect(functionParamSettings).not.toHaveProperty(name);
    for (const [name, s] of Object.entries(functionParamSettings))
      expect({ name, described: s.description.length > 10 }).toEqual({ name, described: true });
  });

  it("checks the values a deploy uses, storage included", () => {
    const defaults = Object.fromEntries(Object.entries(functionParamSettings).map(([name, s]) => [name, s.default]));
    expect(() => parseDeployConfig(defaults)).toThrow(/ZATA_ENDPOINT is required; ZATA_BUCKET is required/);
    expect(parseDeployConfig({ ...defaults, ZATA_ENDPOINT: "https://s3.example.com", ZATA_BUCKET: "media" })).toMatchObject({
      FUNCTIONS_REGION: "us-central1",
      MIRROR_MAX_ATTEMPTS: 5,
    });
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
      expect(parseRunWorkerRequest({ worker, [field]: value })).toMatchObject({
        ok: false,
        error: expect.stringContaining(`${field}: ${field} must be`),
      });
      expect(() => parseWorkerConfig({ [setting]: value })).toThrow(`${setting} must be`);
    }
  });
});
