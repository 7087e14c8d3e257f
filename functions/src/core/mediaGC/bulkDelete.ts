import { randomUUID } from "node:crypto";
import { settingForCode, type DeleteAnswer, type MediaStore, type StorageFailure } from "../storage/mediaStore";

/** What became of one key of a batch. */
export type KeyResult =
  | { kind: "deleted" }
  /** The store kept the object: an error for this key, or a refusal of a request carrying it alone. */
  | { kind: "refused"; message: string }
  /** The store's answer did not confirm the delete (see DeleteAnswer): the object may or may not be gone. */
  | { kind: "unconfirmed"; message: string };

/** Why a batch's deletes stopped before every key had a result. */
export type DeleteStop =
  | { kind: "settings"; message: string; setting: string }
  | { kind: "unavailable"; message: string; nothingDeleted: boolean }
  | { kind: "aborted"; message: string };

export interface BulkDeleteResult {
  results: Map<string, KeyResult>;
  /** Keys without a result because a request failed as a whole (see `stop`). */
  unresolved: string[];
  stop?: DeleteStop;
  /** The error of the failed request behind `stop`, for the log. */
  error?: unknown;
}

/**
 * Reserved prefix of the probe keys: a key under it names no object, so deleting it changes nothing.
 * The app never writes keys under it.
 */
export const PROBE_PREFIX = "workers-gc-probe/";

/**
 * Deletes `keys` (distinct, at most 1,000) in as few DeleteObjects requests as the store allows.
 *
 * One key must not stop the others, and a store-wide problem must not count against every key:
 * - a request refused as a whole (4xx for what it carries: MalformedXML, too large, a key the
 *   store cannot take) is split in halves, recursively, so a key refused when sent alone is
 *   `refused` and every other key goes;
 * - an answer that is store-wide in shape (it names none of the keys, or refuses all of them
 *   with one code) is tested with a probe: a one-key request for a fresh key under
 *   `PROBE_PREFIX`, which names no object. When the probe is handled normally, the keys are to
 *   blame and get their results; when not, the store is, and the batch stops without charging the keys.
 * At most one probe per batch; k keys the store refuses cost about 2·k·log2(n) requests. Requests
 * go one at a time, all under `signal`.
 */
export async function deleteInParts(store: MediaStore, keys: string[], signal: AbortSignal): Promise<BulkDeleteResult> {
  const result: BulkDeleteResult = { results: new Map(), unresolved: [] };
  const probe = storeProbe(store, signal);

  const settle = async (part: string[]): Promise<boolean> => {
    const answer = await store.deleteObjects(part, { signal });
    if (answer.kind === "failed") {
      const { failure } = answer;
      if (failure.kind === "refused" && (await probe.handledNormally()) === true) {
        if (part.length === 1) {
          result.results.set(part[0], { kind: "refused", message: failure.message });
          return true;
        }
        const half = Math.ceil(part.length / 2);
        return (await settle(part.slice(0, half))) && (await settle(part.slice(half)));
      }
      result.error = answer.error;
      return stop(part, whenProbeFails(failure, await probe.sentOutcome()));
    }
    const wide = storeWideShape(answer, part);
    if (wide) {
      const normal = await probe.handledNormally();
      if (normal !== true) return stop(part, normal === false ? wide : normal);
    }
    for (const key of answer.deleted) result.results.set(key, { kind: "deleted" });
    for (const { key, message } of answer.refused) result.results.set(key, { kind: "refused", message });
    for (const { key, message } of answer.unconfirmed) result.results.set(key, { kind: "unconfirmed", message });
    return true;
  };
  const stop = (part: string[], why: DeleteStop): false => {
    result.unresolved.push(...part);
    result.stop = why;
    return false;
  };

  // Every key after a stop stays unresolved too.
  const done = await settle(keys);
  if (!done) result.unresolved = keys.filter((k) => !result.results.has(k));
  return result;
}

/** An answer that looks like the store's doing rather than the keys': what it would mean if the probe confirms it. */
function storeWideShape(answer: Extract<DeleteAnswer, { kind: "answered" }>, part: string[]): DeleteStop | undefined {
  if (answer.unconfirmed.length === part.length) {
    return {
      kind: "unavailable",
      message: `the store confirmed none of the ${part.length} keys it was asked to delete (${answer.unconfirmed[0].message})`,
      nothingDeleted: false,
    };
  }
  const codes = new Set(answer.refused.map((r) => r.code));
  if (answer.refused.length === part.length && codes.size === 1) {
    const message = `the store refused every key (${answer.refused[0].message})`;
    const setting = settingForCode(answer.refused[0].code);
    return setting ? { kind: "settings", message, setting } : { kind: "unavailable", message, nothingDeleted: true };
  }
  return undefined;
}

/** The stop for a failed request that was not worth splitting, or whose probe was not handled normally either. */
function whenProbeFails(failure: StorageFailure, probe: DeleteAnswer | undefined): DeleteStop {
  if (probe?.kind === "failed" && probe.failure.kind === "aborted") return probe.failure;
  if (failure.kind !== "refused") return failure;
  if (failure.status === 401 || failure.status === 403)
    return { kind: "settings", message: failure.message, setting: "ZATA_ACCESS_KEY_ID and ZATA_SECRET_ACCESS_KEY" };
  const probeSaid = probe?.kind === "failed" ? `; a one-key probe failed too: ${probe.failure.message}` : "";
  return { kind: "unavailable", message: `${failure.message}${probeSaid}`, nothingDeleted: true };
}

/**
 * One probe per batch, sent on first need. `handledNormally`: true when the store answered it
 * and named its key deleted, false when not, or the stop when the probe was cut by the deadline.
 */
function storeProbe(store: MediaStore, signal: AbortSignal) {
  let sent: Promise<DeleteAnswer> | undefined;
  const send = () => (sent ??= store.deleteObjects([`${PROBE_PREFIX}${randomUUID()}`], { signal }));
  return {
    sentOutcome: async () => (sent ? send() : undefined),
    handledNormally: async (): Promise<boolean | DeleteStop> => {
      const answer = await send();
      if (answer.kind === "failed" && answer.failure.kind === "aborted") return answer.failure;
      return answer.kind === "answered" && answer.deleted.length === 1;
    },
  };
}
