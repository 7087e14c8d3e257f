import { createHash } from "node:crypto";
import { S3Client } from "@aws-sdk/client-s3";
import type { StorageConfig } from "../config";
import { S3MediaStore } from "./mediaStore";

/**
 * An S3 client set up for S3-compatible providers such as Zata:
 * - a custom endpoint and path-style addressing;
 * - checksums only where the API requires them, and for DeleteObjects (which requires one) a
 *   `Content-MD5` header instead of the SDK's default CRC32 headers: AWS accepts either, and
 *   several S3-compatible stores accept only Content-MD5 (they answer "Missing required header
 *   for this request: Content-MD5"). Source: the AWS SDK for JavaScript v3's MD5 fallback note
 *   (supplemental-docs/MD5_FALLBACK.md) and the DeleteObjects API reference;
 * - `ZATA_REQUEST_TIMEOUT_MS` to connect, and as the longest silence of a socket (the whole
 *   request's bound is S3MediaStore's, per attempt);
 * - `maxAttempts` (4 by default) for the SDK's retries of throttling, 5xx answers and timeouts;
 *   S3MediaStore's client has 1: it retries DeleteObjects itself, as it must know what every attempt did.
 */
export function createS3Client(config: StorageConfig, options: { maxAttempts?: number } = {}): S3Client {
  const timeout = config.ZATA_REQUEST_TIMEOUT_MS;
  const client = new S3Client({
    endpoint: config.ZATA_ENDPOINT,
    region: config.ZATA_REGION,
    forcePathStyle: config.ZATA_FORCE_PATH_STYLE,
    credentials: { accessKeyId: config.ZATA_ACCESS_KEY_ID, secretAccessKey: config.ZATA_SECRET_ACCESS_KEY },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    retryMode: "standard",
    maxAttempts: options.maxAttempts ?? 4,
    // Without throwOnRequestTimeout the SDK only logs a warning when requestTimeout passes.
    requestHandler: { connectionTimeout: timeout, requestTimeout: timeout, throwOnRequestTimeout: true },
  });
  addContentMd5ToDeleteObjects(client);
  return client;
}

/** The media store for `config`: DeleteObjects in up to 4 attempts, each bounded by ZATA_REQUEST_TIMEOUT_MS. */
export function createMediaStore(config: StorageConfig, options: { attempts?: number } = {}): S3MediaStore {
  return new S3MediaStore(createS3Client(config, { maxAttempts: 1 }), config.ZATA_BUCKET, {
    attempts: options.attempts,
    attemptTimeoutMs: config.ZATA_REQUEST_TIMEOUT_MS,
  });
}

const CHECKSUM_HEADER = /^x-amz-(checksum-|sdk-checksum-algorithm$)/i;

/**
 * Replaces the flexible-checksum headers of DeleteObjects with Content-MD5 of the final body.
 * Runs in the build step at low priority, after the SDK's checksum middleware (normal priority)
 * has added its headers, and before signing (finalizeRequest), so the header is signed.
 */
function addContentMd5ToDeleteObjects(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (context.commandName !== "DeleteObjectsCommand" || !request.headers) return next(args);
      for (const name of Object.keys(request.headers)) if (CHECKSUM_HEADER.test(name)) delete request.headers[name];
      const body = typeof request.body === "string" || request.body instanceof Uint8Array ? request.body : "";
      request.headers["content-md5"] = createHash("md5").update(body).digest("base64");
      return next(args);
    },
    { step: "build", priority: "low", name: "contentMd5ForDeleteObjects" },
  );
}
