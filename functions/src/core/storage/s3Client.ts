import { S3Client } from "@aws-sdk/client-s3";
import type { StorageConfig } from "../config";

/**
 * An S3 client set up for S3-compatible providers such as Zata: a custom endpoint, path-style
 * addressing, and checksums only where the API requires them (many providers reject the SDK's
 * default CRC32 headers). Throttling and 5xx answers are retried with the SDK's backoff.
 */
export function createS3Client(config: StorageConfig, options: { maxAttempts?: number } = {}): S3Client {
  return new S3Client({
    endpoint: config.ZATA_ENDPOINT,
    region: config.ZATA_REGION,
    forcePathStyle: config.ZATA_FORCE_PATH_STYLE,
    credentials: { accessKeyId: config.ZATA_ACCESS_KEY_ID, secretAccessKey: config.ZATA_SECRET_ACCESS_KEY },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    retryMode: "standard",
    maxAttempts: options.maxAttempts ?? 4,
  });
}
