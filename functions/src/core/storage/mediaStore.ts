import { setTimeout as sleep } from "node:timers/promises";
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
      /** Named in the answer's Errors with a code that says the store kept the object (KEPT_BY_CODE). */
      refused: { key: string; code: string; message: string }[];
      /** Named in neither list, in both, or in Errors with a code of unknown outcome: the object may or may not be gone. */
      unconfirmed: { key: string; message: string }[];
    }
  | { kind: "failed"; failure: StorageFailure; error: unknown };

/** The one storage operation the GC needs, so it can be counted in benchmarks. */
export interface MediaStore {
  /**
   * Deletes up to 1,000 distinct keys in one request (retried, see S3MediaStore). Never rejects:
   * a failed request is an answer of kind "failed" (see `describeStorageFailure`); `signal` aborts
   * it (the caller's deadline).
   */
  deleteObjects(keys: string[], options?: DeleteOptions): Promise<DeleteAnswer>;
}

export interface DeleteOptions {
  /** Aborts the request (the caller's deadline). */
  signal?: AbortSignal;
  /** Attempts for this request, in place of the store's own number (at least 1). */
  attempts?: number;
}

export const S3_DELETE_LIMIT = 1000;

export interface S3MediaStoreOptions {
  /** Attempts per DeleteObjects request (the first and its retries). */
  attempts?: number;
  /** Longest time one attempt may take, from sending to the end of the answer (ZATA_REQUEST_TIMEOUT_MS). */
  attemptTimeoutMs?: number;
}

/** Waits the AWS SDK's standard retry backoff (full jitter over 100 ms·2^attempt, at most 20 s); false when `signal` fired first. */
async function backoff(attempt: number, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await sleep(Math.random() * Math.min(20_000, 100 * 2 ** attempt), undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/**
 * Per-key error codes that say the store did not delete the object, with why. Every other code
 * (InternalError, ServiceUnavailable, SlowDown, OperationAborted, a code this table does not
 * know) leaves the outcome unknown: the key may be gone. Source: the S3 API reference's error
 * codes (DeleteObjects' per-key Error carries the codes of DeleteObject).
 */
const KEPT_BY_CODE: Record<string, string> = {
  AccessDenied: "the credentials may not delete it (permissions, a bucket policy, object lock)",
  AllAccessDisabled: "all access to the bucket is disabled",
  AccountProblem: "the account cannot act",
  InvalidAccessKeyId: "the access key is unknown",
  SignatureDoesNotMatch: "the signature was refused",
  NoSuchBucket: "the bucket does not exist",
  InvalidBucketName: "the bucket name is invalid",
  InvalidArgument: "the store cannot take the key",
  InvalidRequest: "the store refused the request for this key",
  KeyTooLongError: "the key is too long for the store",
  MethodNotAllowed: "the store does not allow deleting this object",
  NotImplemented: "the store does not implement this delete",
  InvalidObjectState: "the object's state forbids the delete",
};

/** Whether a per-key error `code` says the store kept the object (KEPT_BY_CODE). */
export const keptByCode = (code: string): boolean => Object.hasOwn(KEPT_BY_CODE, code);

/**
 * The media store on an S3-compatible provider. DeleteObjects is retried here, not by the SDK
 * (`client` must have `maxAttempts: 1`, as createMediaStore makes it), so that every attempt is seen:
 * - each attempt is bounded as a whole by `attemptTimeoutMs` (an AbortSignal: a store that drips
 *   its answer byte by byte is cut too), and the caller's `signal` bounds them all;
 * - an outage (5xx, throttling, a timeout, a reset, a refused connection) is retried with backoff;
 * - once an attempt may have reached the store and acted (it was sent and got no answer, a 5xx,
 *   or an answer that is not S3 XML), the request's outcome is unknown whatever later attempts
 *   answer: its failure is `unavailable` with `nothingDeleted: false` (never `settings` or
 *   `refused`), and a later answer's per-key refusals count as unconfirmed.
 */
export class S3MediaStore implements MediaStore {
  private readonly attempts: number;
  private readonly attemptTimeoutMs: number;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    options: S3MediaStoreOptions = {},
  ) {
    this.attempts = options.attempts ?? 4;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 30_000;
  }

  async deleteObjects(keys: string[], options: DeleteOptions = {}): Promise<DeleteAnswer> {
    const unique = [...new Set(keys)];
    if (unique.length === 0) return { kind: "answered", deleted: [], refused: [], unconfirmed: [] };
    if (unique.length > S3_DELETE_LIMIT) throw new RangeError(`deleteObjects takes at most ${S3_DELETE_LIMIT} keys, got ${unique.length}`);
    const attempts = Math.max(1, options.attempts ?? this.attempts);
    let mayHaveActed: string | undefined;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(unique, options.signal);
      if (outcome.kind === "answered") return mayHaveActed ? refusalsUnconfirmed(outcome, mayHaveActed) : outcome;
      const { failure } = outcome;
      if (failure.kind === "aborted" || (failure.kind === "unavailable" && !failure.nothingDeleted)) mayHaveActed ??= failure.message;
      if (failure.kind === "unavailable" && attempt < attempts) {
        if (await backoff(attempt, options.signal)) continue;
        const message = `the caller's deadline passed before attempt ${attempt + 1} (last: ${failure.message})`;
        return { kind: "failed", error: outcome.error, failure: { kind: "aborted", message } };
      }
      if (failure.kind === "aborted" || !mayHaveActed) return outcome;
      const earlier = mayHaveActed === failure.message ? "" : `; an earlier attempt may have deleted keys: ${mayHaveActed}`;
      return {
        kind: "failed",
        error: outcome.error,
        failure: {
          kind: "unavailable",
          message: `${failure.message}${earlier} (attempt ${attempt} of ${attempts})`,
          nothingDeleted: false,
          ...(isStoreWide(failure) ? { storeWide: true } : {}),
        },
      };
    }
  }

  /** One DeleteObjects attempt, bounded by attemptTimeoutMs and `signal`. */
  private async attempt(keys: string[], signal: AbortSignal | undefined): Promise<DeleteAnswer> {
    const command = new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: false } });
    // Innermost middleware, just before the HTTP handler: an error raised before it means the SDK itself refused to send.
    let handedToNetwork = false;
    command.middlewareStack.add(
      (next) => (args) => {
        handedToNetwork = true;
        return next(args);
      },
      { step: "deserialize", priority: "low", name: "gcHandedToNetwork" },
    );
    const timeout = AbortSignal.timeout(this.attemptTimeoutMs);
    let out;
    try {
      out = await this.client.send(command, { abortSignal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    } catch (error) {
      const aborted = signal?.aborted === true;
      const failure =
        !aborted && timeout.aborted
          ? timedOut(this.attemptTimeoutMs, handedToNetwork)
          : describeStorageFailure(error, { handedToNetwork, aborted });
      return { kind: "failed", failure, error };
    }
    return readAnswer(keys, out);
  }
}

/** An attempt cut by its own timeout: it may have been sent, so it may have acted. */
function timedOut(ms: number, sent: boolean): StorageFailure {
  return {
    kind: "unavailable",
    message: `TimeoutError: no complete answer within ZATA_REQUEST_TIMEOUT_MS (${ms} ms)`,
    nothingDeleted: !sent,
  };
}

/** After an attempt that may have acted, a key a later answer refuses may be gone all the same. */
function refusalsUnconfirmed(answer: Extract<DeleteAnswer, { kind: "answered" }>, why: string): DeleteAnswer {
  const unconfirmed = [
    ...answer.unconfirmed,
    ...answer.refused.map((r) => ({ key: r.key, message: `${r.message}, after an earlier attempt that may have deleted it (${why})` })),
  ];
  return { ...answer, refused: [], unconfirmed };
}

function readAnswer(
  keys: string[],
  out: { Deleted?: { Key?: string }[]; Errors?: { Key?: string; Code?: string; Message?: string }[] },
): DeleteAnswer {
  const requested = new Set(keys);
  const named = new Set((out.Deleted ?? []).map((d) => d.Key));
  const errors = new Map<string, { code: string; message: string }>();
  for (const e of out.Errors ?? []) {
    if (e.Key === undefined || !requested.has(e.Key)) continue;
    const code = e.Code ?? "Error";
    // Some providers report a missing key as an error rather than as deleted; it is gone either way.
    if (code === "NoSuchKey") named.add(e.Key);
    else errors.set(e.Key, { code, message: `${code}: ${e.Message ?? "delete failed"}` });
  }
  const answer: Extract<DeleteAnswer, { kind: "answered" }> = { kind: "answered", deleted: [], refused: [], unconfirmed: [] };
  for (const key of keys) {
    const error = errors.get(key);
    if (!error) {
      if (named.has(key)) answer.deleted.push(key);
      else answer.unconfirmed.push({ key, message: "the key is in neither Deleted nor Errors of the answer" });
    } else if (named.has(key))
      answer.unconfirmed.push({ key, message: `the answer names the key both Deleted and in Errors (${error.message})` });
    else if (keptByCode(error.code)) answer.refused.push({ key, ...error });
    else answer.unconfirmed.push({ key, message: `${error.message} (a per-key error of unknown outcome)` });
  }
  return answer;
}

/**
 * A storage request that failed as a whole, by what the GC can do about it:
 * - `settings`: the store (or the SDK, before sending) refused what the settings make of the
 *   request (credentials, bucket, region, endpoint); `setting` names what to check. Nothing was deleted.
 * - `refused`: the store answered 4xx to this request for what it carries (MalformedXML, a
 *   request too large, a key it cannot take...), or for a reason the message names. Nothing was deleted.
 * - `unavailable`: an outage (connection refused, a reset, a timeout, 5xx, throttling, an answer
 *   that is not S3 XML). `nothingDeleted` is true only when the request certainly did nothing;
 *   `storeWide` when no key can be the cause (throttling: 429, 503, SlowDown; the last attempt
 *   refused for the settings or its connection), so splitting the request cannot help.
 * - `aborted`: the caller's signal ended it (its deadline); some keys may be gone.
 */
export type StorageFailure =
  | { kind: "settings"; message: string; setting: string }
  | { kind: "refused"; message: string; status: number }
  | { kind: "unavailable"; message: string; nothingDeleted: boolean; storeWide?: true }
  | { kind: "aborted"; message: string };

/** Whether no key of the request can have caused `failure` (see StorageFailure). */
function isStoreWide(failure: StorageFailure): boolean {
  if (failure.kind === "settings") return true;
  return failure.kind === "unavailable" && (failure.nothingDeleted || failure.storeWide === true);
}

/**
 * Whether a request that failed as a whole may have failed for one of its keys while the store
 * works (a 500 or no answer for what it carries): worth sending its keys apart. Throttling, a
 * refused connection or a refusal for the settings are the store's whatever the keys.
 */
export const mayBeKeySpecific = (failure: StorageFailure): boolean => failure.kind === "unavailable" && !isStoreWide(failure);

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
  if (!how.handedToNetwork)
    return { kind: "settings", message: `not sent, the S3 client refused it: ${message}`, setting: settingNamedIn(text) };
  const setting =
    (code && settingForCode(code)) ||
    (code && TLS_CODE.test(code) ? TLS_FAILED : undefined) ||
    (status === 404 || status === 405 ? NOT_S3_ENDPOINT : undefined);
  if (setting) return { kind: "settings", message, setting };
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429)
    return { kind: "refused", message, status };
  if (NEVER_SENT.test(code ?? ""))
    return { kind: "unavailable", message: `${message} (is the store at ZATA_ENDPOINT up?)`, nothingDeleted: true };
  if (status !== undefined && status < 300)
    return {
      kind: "unavailable",
      message: `${message} (the answer is not S3 XML: is ZATA_ENDPOINT an S3 endpoint?)`,
      nothingDeleted: false,
    };
  const throttled = status === 429 || status === 503 || code === "SlowDown";
  return { kind: "unavailable", message, nothingDeleted: status === 408 || status === 429, ...(throttled ? { storeWide: true } : {}) };
}

/** The SDK's own refusals name the part of its configuration at fault. */
function settingNamedIn(text: string): string {
  if (/region/i.test(text)) return "ZATA_REGION";
  if (/bucket/i.test(text)) return "ZATA_BUCKET";
  if (/endpoint|url|uri/i.test(text)) return "ZATA_ENDPOINT";
  return "the ZATA_* settings";
}
