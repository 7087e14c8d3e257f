import { DeleteObjectsCommand, type S3Client } from "@aws-sdk/client-s3";
import { errorMessage } from "../errors";

/**
 * What one bulk delete request came to: the store's answer, key by key, or the failure of the
 * request as a whole. A key counts as deleted only when the answer names it (a store that
 * changed the key, e.g. trimmed its spaces, names another).
 */
export type DeleteAnswer =
  | {
      kind: "answered";
      /** Named in the answer's Deleted list, or in its Errors as NoSuchKey (already gone). */
      deleted: string[];
      /** Named in the answer's Errors (and not in Deleted): the store kept these objects. */
      refused: { key: string; code: string; message: string }[];
      /** Named in neither list, or in both: the store may or may not have deleted them. */
      unconfirmed: string[];
    }
  | { kind: "failed"; failure: StorageFailure; error: unknown };

/** The one storage operation the GC needs, so it can be counted in benchmarks. */
export interface MediaStore {
  /**
   * Deletes up to 1,000 distinct keys in one request. Never rejects: a failed request is an
   * answer of kind "failed" (see `describeStorageFailure`); `signal` aborts it (the caller's deadline).
   */
  deleteObjects(keys: string[], options?: { signal?: AbortSignal }): Promise<DeleteAnswer>;
}

export const S3_DELETE_LIMIT = 1000;

export class S3MediaStore implements MediaStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async deleteObjects(keys: string[], options: { signal?: AbortSignal } = {}): Promise<DeleteAnswer> {
    const unique = [...new Set(keys)];
    if (unique.length === 0) return { kind: "answered", deleted: [], refused: [], unconfirmed: [] };
    if (unique.length > S3_DELETE_LIMIT) throw new RangeError(`deleteObjects takes at most ${S3_DELETE_LIMIT} keys, got ${unique.length}`);
    const command = new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: unique.map((Key) => ({ Key })), Quiet: false } });
    // Innermost middleware, just before the HTTP handler: an error raised before it means the SDK itself refused to send.
    let handedToNetwork = false;
    command.middlewareStack.add(
      (next) => (args) => {
        handedToNetwork = true;
        return next(args);
      },
      { step: "deserialize", priority: "low", name: "gcHandedToNetwork" },
    );
    let out;
    try {
      out = await this.client.send(command, { abortSignal: options.signal });
    } catch (error) {
      return { kind: "failed", failure: describeStorageFailure(error, { handedToNetwork, aborted: options.signal?.aborted === true }), error };
    }
    const requested = new Set(unique);
    const named = new Set((out.Deleted ?? []).map((d) => d.Key));
    const refused: { key: string; code: string; message: string }[] = [];
    for (const e of out.Errors ?? []) {
      if (e.Key === undefined || !requested.has(e.Key)) continue;
      // Some providers report a missing key as an error rather than as deleted; it is gone either way.
      if (e.Code === "NoSuchKey") named.add(e.Key);
      else refused.push({ key: e.Key, code: e.Code ?? "Error", message: `${e.Code ?? "Error"}: ${e.Message ?? "delete failed"}` });
    }
    // A key named in both lists is neither confirmed deleted nor certainly kept.
    const both = new Set(refused.filter((r) => named.has(r.key)).map((r) => r.key));
    const refusedKeys = new Set(refused.map((r) => r.key));
    return {
      kind: "answered",
      deleted: unique.filter((k) => named.has(k) && !refusedKeys.has(k)),
      refused: refused.filter((r) => !both.has(r.key)),
      unconfirmed: unique.filter((k) => both.has(k) || (!named.has(k) && !refusedKeys.has(k))),
    };
  }
}

/**
 * A storage request that failed as a whole, by what the GC can do about it:
 * - `settings`: the store (or the SDK, before sending) refused what the settings make of the
 *   request (credentials, bucket, region, endpoint); `setting` names what to check. Nothing was deleted.
 * - `refused`: the store answered 4xx to this request for what it carries (MalformedXML, a
 *   request too large, a key it cannot take...), or for a reason the message names. Nothing was deleted.
 * - `unavailable`: an outage (connection refused, a reset, a timeout, 5xx, throttling, an answer
 *   that is not S3 XML). `nothingDeleted` is true only when the request certainly did nothing.
 * - `aborted`: the caller's signal ended it (its deadline); some keys may be gone.
 */
export type StorageFailure =
  | { kind: "settings"; message: string; setting: string }
  | { kind: "refused"; message: string; status: number }
  | { kind: "unavailable"; message: string; nothingDeleted: boolean }
  | { kind: "aborted"; message: string };

/** S3 error codes (and Node network codes) that mean the storage settings are wrong, not that the store is down. */
const SETTING_BY_CODE: Record<string, string> = {
  InvalidAccessKeyId: "ZATA_ACCESS_KEY_ID",
  AccessDenied: "ZATA_ACCESS_KEY_ID (its permissions on the bucket)",
  SignatureDoesNotMatch: "ZATA_SECRET_ACCESS_KEY",
  NoSuchBucket: "ZATA_BUCKET",
  InvalidBucketName: "ZATA_BUCKET",
  AuthorizationHeaderMalformed: "ZATA_REGION",
  PermanentRedirect: "ZATA_ENDPOINT and ZATA_REGION",
  RequestTimeTooSkewed: "this machine's clock (the store finds it too far from its own)",
  ENOTFOUND: "ZATA_ENDPOINT",
};

/** The setting to check when the store answers `code` (for the request, or for every key of it). */
export function settingForCode(code: string): string | undefined {
  return Object.hasOwn(SETTING_BY_CODE, code) ? SETTING_BY_CODE[code] : undefined;
}

/** An endpoint that answers 404 or 405 without an S3 error code to DeleteObjects is not the S3 API (or not with this addressing). */
const NOT_S3_ENDPOINT = "ZATA_ENDPOINT (is it the store's S3 endpoint?) and ZATA_FORCE_PATH_STYLE";
const TLS_FAILED = "ZATA_ENDPOINT (the TLS handshake failed: http or https, and the store's certificate)";
/** Node's TLS and certificate error codes: the connection was never established, so no request was sent. */
const TLS_CODE = /^(EPROTO|ERR_SSL_|ERR_TLS_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|UNABLE_TO_)/;
const NEVER_SENT = /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN)$/;
/** The SDK turns a rejection that is not an Error of its own realm into "AWS SDK error wrapper for <text>", dropping `code`. */
const CODE_IN_TEXT = /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|ETIMEDOUT|EPROTO)\b/;

/**
 * Classifies a failed request (see StorageFailure). `handedToNetwork`: whether the SDK got as far
 * as its HTTP handler; `aborted`: whether the caller's signal had fired.
 */
export function describeStorageFailure(error: unknown, how: { handedToNetwork: boolean; aborted: boolean }): StorageFailure {
  const e = (error ?? {}) as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  // One line: some network errors end in a newline, or carry OpenSSL's multi-line text.
  const text = errorMessage(error).replace(/\s+/g, " ").trim();
  const code = e.code ?? (e.name && e.name !== "Error" ? e.name : CODE_IN_TEXT.exec(text)?.[1]);
  const message = code && !text.startsWith(code) ? `${code}: ${text}` : text;
  if (how.aborted) return { kind: "aborted", message };
  if (!how.handedToNetwork) return { kind: "settings", message: `not sent, the S3 client refused it: ${message}`, setting: settingNamedIn(text) };
  const setting = (code && settingForCode(code)) || (code && TLS_CODE.test(code) ? TLS_FAILED : undefined) || (status === 404 || status === 405 ? NOT_S3_ENDPOINT : undefined);
  if (setting) return { kind: "settings", message, setting };
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) return { kind: "refused", message, status };
  if (NEVER_SENT.test(code ?? "")) return { kind: "unavailable", message: `${message} (is the store at ZATA_ENDPOINT up?)`, nothingDeleted: true };
  if (status !== undefined && status < 300) return { kind: "unavailable", message: `${message} (the answer is not S3 XML: is ZATA_ENDPOINT an S3 endpoint?)`, nothingDeleted: false };
  return { kind: "unavailable", message, nothingDeleted: status === 408 || status === 429 };
}

/** The SDK's own refusals name the part of its configuration at fault. */
function settingNamedIn(text: string): string {
  if (/region/i.test(text)) return "ZATA_REGION";
  if (/bucket/i.test(text)) return "ZATA_BUCKET";
  if (/endpoint|url|uri/i.test(text)) return "ZATA_ENDPOINT";
  return "the ZATA_* settings";
}
