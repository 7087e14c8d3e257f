import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// s3rver ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver");
import type { StorageConfig } from "../src/core/config";

/** A real S3-compatible HTTP server (s3rver) on a free loopback port, with one bucket. */
export interface TestS3Server {
  endpoint: string;
  port: number;
  bucket: string;
  config: StorageConfig;
  /** The same settings as environment variables, for a process (the CLI, a worker). */
  env: Record<string, string>;
  start(): Promise<void>;
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startS3Server(bucket = "media-test"): Promise<TestS3Server> {
  const directory = mkdtempSync(join(tmpdir(), "s3rver-"));
  let port = 0;
  let server: { run(): Promise<{ port: number }>; close(): Promise<void> } | undefined;
  const start = async () => {
    // Restarting reuses the first port, so clients configured before a stop work again after it.
    server = new S3rver({ port, address: "127.0.0.1", silent: true, directory, configureBuckets: [{ name: bucket }] });
    const info = await server!.run();
    port = info.port;
  };
  const stop = async () => {
    await server?.close();
    server = undefined;
  };
  await start();
  const endpoint = `http://127.0.0.1:${port}`;
  const config: StorageConfig = {
    ZATA_ENDPOINT: endpoint,
    ZATA_REGION: "us-east-1",
    ZATA_BUCKET: bucket,
    ZATA_ACCESS_KEY_ID: "S3RVER",
    ZATA_SECRET_ACCESS_KEY: "S3RVER",
    ZATA_FORCE_PATH_STYLE: true,
    ZATA_REQUEST_TIMEOUT_MS: 30_000,
  };
  return {
    endpoint,
    port,
    bucket,
    config,
    env: storageEnv(config),
    start,
    stop,
    dispose: async () => {
      await stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** Storage settings as the environment variables a process reads. */
export function storageEnv(config: StorageConfig): Record<string, string> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)]));
}
