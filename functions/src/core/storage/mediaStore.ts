import { DeleteObjectsCommand, type S3Client } from "@aws-sdk/client-s3";
import { errorMessage } from "../errors";

/**
 * What one bulk delete did, key by key, as the store's answer says. A key counts as deleted only
 * when the answer names it (a store that changed the key, e.g. trimmed its spaces, names another).
 */
export interface DeleteOutcome {
  /** Named in the answer's Deleted list, or in its Errors as NoSuchKey (already gone). */
  deleted: string[];
  /** Named in the answer's Errors: the store kept these objects. */
  refused: { key: string; message: string }[];
  /** Named in neither list: the store may or may not have deleted them. */
  unconfirmed: string[];
}

/** The one storage operation the GC needs, so it can be counted in benchmarks. */
export interface MediaStore {
  /**
   * Deletes up to 1,000 distinct keys in one request. Rejects when the request as a whole fails
   * (see `describeStorageFailure`); `signal` aborts it (the caller's time budget).
   */
  deleteObjects(keys: string[], options?: { signal?: AbortSignal }): Promise<DeleteOutcome>;
}

export const S3_DELETE_LIMIT = 1000;

export class S3MediaStore implements MediaStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async deleteObjects(keys: string[], options: { signal?: AbortSignal } = {}): Promise<DeleteOutcome> {
    const unique = [...new Set(keys)];
    if (unique.length === 0) return { deleted: [], refused: [], unconfirmed: [] };
    if (unique.length > S3_DELETE_LIMIT) throw new RangeError(`deleteObjects takes at most ${S3_DELETE_LIMIT} keys, got ${unique.length}`);
    const out = await this.client.send(
      new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: unique.map((Key) => ({ Key })), Quiet: false } }),
      { abortSignal: options.signal },
    );
    const requested = new Set(unique);
    const named = new Set((out.Deleted ?? []).map((d) => d.Key));
    const refused: DeleteOutcome["refused"] = [];
    for (const e of out.Errors ?? []) {
      if (e.Key === undefined || !requested.has(e.Key)) continue;
      // Some providers report a missing key as an error rather than as deleted; it is gone either way.
      if (e.Code === "NoSuchKey") named.add(e.Key);
      else refused.push({ key: e.Key, message: `${e.Code ?? "Error"}: ${e.Message ?? "delete failed"}` });
    }
    const refusedKeys = new Set(refused.map((r) => r.key));
    return {
      deleted: unique.filter((k) => named.has(k) && !refusedKeys.has(k)),
      refused,
      unconfirmed: unique.filter((k) => !named.has(k) && !refusedKeys.has(k)),
    };
  }
}

/** A storage request that failed as a whole, described for the GC's decisions and its report. */
export interface StorageFailure {
  /** One line: the S3 error code and message, or the network error. */
  message: string;
  /**
   * True when the store certainly deleted nothing: it answered with a client error (4xx), or the
   * request never reached it (connection refused, unknown host). False for timeouts, dropped
   * connections and server errors (5xx), after which some keys may be gone.
   */
  nothingDeleted: boolean;
  /** For a refusal that configuration causes (credentials, bucket, region, endpoint): the setting to check. */
  setting?: string;
}

/** S3 error codes (and Node network codes) that mean the storage settings are wrong, not that the store is down. */
const SETTING_BY_CODE: Record<string, string> = {
  InvalidAccessKeyId: "ZATA_ACCESS_KEY_ID",
  AccessDenied: "ZATA_ACCESS_KEY_ID (its permissions on the bucket)",
  SignatureDoesNotMatch: "ZATA_SECRET_ACCESS_KEY",
  NoSuchBucket: "ZATA_BUCKET",
  InvalidBucketName: "ZATA_BUCKET",
  AuthorizationHeaderMalformed: "ZATA_REGION",
  PermanentRedirect: "ZATA_ENDPOINT and ZATA_REGION",
  ENOTFOUND: "ZATA_ENDPOINT",
};

const NEVER_SENT = /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN)$/;
/** The SDK turns a rejection that is not an Error of its own realm into "AWS SDK error wrapper for <text>", dropping `code`. */
const CODE_IN_TEXT = /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|ETIMEDOUT)\b/;

export function describeStorageFailure(error: unknown): StorageFailure {
  const e = (error ?? {}) as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const text = errorMessage(error);
  const code = e.code ?? (e.name && e.name !== "Error" ? e.name : CODE_IN_TEXT.exec(text)?.[1]);
  const message = code && !text.startsWith(code) ? `${code}: ${text}` : text;
  const nothingDeleted = (status !== undefined && status >= 400 && status < 500) || NEVER_SENT.test(code ?? "");
  const setting = (code && SETTING_BY_CODE[code]) || undefined;
  return setting ? { message, nothingDeleted, setting } : { message, nothingDeleted };
}
