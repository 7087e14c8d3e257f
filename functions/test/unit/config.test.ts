import { ConfigError, parseStorageConfig, parseWorkerConfig, redact } from "../../src/core/config";

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
    const config = parseStorageConfig({ ZATA_ENDPOINT: "http://localhost:9", ZATA_BUCKET: "b", ZATA_ACCESS_KEY_ID: "k", ZATA_SECRET_ACCESS_KEY: "s" });
    expect(config.ZATA_FORCE_PATH_STYLE).toBe(true);
    expect(parseStorageConfig({ ...config, ZATA_FORCE_PATH_STYLE: "false" }).ZATA_FORCE_PATH_STYLE).toBe(false);
    expect(redact(config)).toMatchObject({ ZATA_ACCESS_KEY_ID: "<set>", ZATA_SECRET_ACCESS_KEY: "<set>", ZATA_BUCKET: "b" });
  });
});
