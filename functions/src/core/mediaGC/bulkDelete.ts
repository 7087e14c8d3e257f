import { randomUUID } from "node:crypto";
import { mayBeKeySpecific, settingForCode, type DeleteAnswer, type MediaStore, type StorageFailure } from "../storage/mediaStore";

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
 * - a request that failed as a whole in a way one key can cause (a 500, no answer in time, a
 *   reset: `mayBeKeySpecific`) is split the same way while a fresh probe (below) shows the store
 *   up, each part in one attempt; a key that fails alone is `unconfirmed` (the store may have
 *   acted). As the first request may have acted, a part's refusals count as unconfirmed too. When
 *   no key of the batch went, the store is to blame, not the keys: they are left unresolved;
 * - an answer that is store-wide in shape (it names none of the keys, or refuses all of them
 *   with one code) is tested with a probe: a one-key request for a fresh key under
 *   `PROBE_PREFIX`, which names no object. When the probe is handled normally, the keys are to
 *   blame and get their results; when not, the store is, and the batch stops without charging the keys.
 * One probe per batch for refusals, plus one per failed request for failures of the second kind.
 * k keys the store refuses cost about 2·k·log2(n) requests; a key the store never answers costs
 * about log2(n) request timeouts (ZATA_REQUEST_TIMEOUT_MS each). Requests go one at a time, all under `signal`.
 */
export async function deleteInParts(store: MediaStore, keys: string[], signal: AbortSignal): Promise<BulkDeleteResult> {
  const result: BulkDeleteResult = { results: new Map(), unresolved: [] };
  const probe = storeProbe(store, signal);
  /** Keys that failed alone, whole-request, while a probe passed: unconfirmed if another key of the batch went. */
  const suspects = new Map<string, string>();

  /** `acted`: why an earlier request carrying these keys may have deleted some (their answers then confirm deletes only). */
  const settle = async (part: string[], acted?: string): Promise<boolean> => {
    const answer = await store.deleteObjects(part, acted ? { signal, attempts: 1 } : { signal });
    if (answer.kind === "failed") {
      const { failure } = answer;
      if (failure.kind === "refused" && !acted && (await probe.handledNormally()) === true) {
        if (part.length > 1) return split(part);
        result.results.set(part[0], { kind: "refused", message: failure.message });
        return true;
      }
      if (mayBeKeySpecific(failure) || (acted && failure.kind === "refused")) {
        const fresh = await probe.fresh();
        if (fresh !== true && fresh !== false) return stop(part, fresh, acted);
        if (fresh && part.length > 1) return split(part, acted ?? failure.message);
        if (fresh) {
          suspects.set(part[0], failure.message);
          return true;
        }
      }
      result.error = answer.error;
      return stop(part, whenProbeFails(failure, await probe.sentOutcome()), acted);
    }
    const wide = storeWideShape(answer, part);
    if (wide) {
      const normal = await probe.handledNormally();
      if (normal !== true) return stop(part, normal === false ? wide : normal, acted);
    }
    for (const key of answer.deleted) result.results.set(key, { kind: "deleted" });
    for (const { key, message } of answer.refused)
      result.results.set(
        key,
        acted
          ? { kind: "unconfirmed", message: `${message}, after a request that may have deleted it (${acted})` }
          : { kind: "refused", message },
      );
    for (const { key, message } of answer.unconfirmed) result.results.set(key, { kind: "unconfirmed", message });
    return true;
  };
  const split = async (part: string[], acted?: string): Promise<boolean> => {
    const half = Math.ceil(part.length / 2);
    return (await settle(part.slice(0, half), acted)) && (await settle(part.slice(half), acted));
  };
  const stop = (part: string[], why: DeleteStop, acted: string | undefined): false => {
    result.unresolved.push(...part);
    result.stop = acted ? afterUnknownOutcome(why, acted) : why;
    return false;
  };

  const done = await settle(keys);
  if (suspects.size > 0) {
    const anyWent = [...result.results.values()].some((r) => r.kind === "deleted");
    if (anyWent) {
      for (const [key, message] of suspects)
        result.results.set(key, {
          kind: "unconfirmed",
          message: `the store failed every request carrying this key, and deleted others: ${message}`,
        });
    } else if (done) {
      result.stop = {
        kind: "unavailable",
        message: `every request carrying the batch's keys failed while the store answered a probe (${[...suspects.values()][0]})`,
        nothingDeleted: false,
      };
    }
  }
  // Every key without a result after a stop stays unresolved.
  if (result.stop) result.unresolved = keys.filter((k) => !result.results.has(k));
  return result;
}

/** A stop inside a batch whose first request may have acted: nothing in it says the objects remain. */
function afterUnknownOutcome(why: DeleteStop, acted: string): DeleteStop {
  if (why.kind === "aborted") return why;
  return {
    kind: "unavailable",
    message: `${why.message}; an earlier request of the batch may have deleted keys: ${acted}`,
    nothingDeleted: false,
  };
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
 * A batch's probes. `handledNormally`: the one probe sent on first need (then its answer again):
 * true when the store answered it and named its key deleted, false when not, or the stop when
 * the probe was cut by the deadline. `fresh`: the same for a new probe, in one attempt (the
 * store's state now). `sentOutcome`: the last probe's answer, if one was sent.
 */
function storeProbe(store: MediaStore, signal: AbortSignal) {
  const newProbe = (attempts?: number) => store.deleteObjects([`${PROBE_PREFIX}${randomUUID()}`], { signal, attempts });
  let first: Promise<DeleteAnswer> | undefined;
  let last: Promise<DeleteAnswer> | undefined;
  const judge = async (sent: Promise<DeleteAnswer>): Promise<boolean | DeleteStop> => {
    const answer = await sent;
    if (answer.kind === "failed" && answer.failure.kind === "aborted") return answer.failure;
    return answer.kind === "answered" && answer.deleted.length === 1;
  };
  return {
    sentOutcome: async () => last,
    handledNormally: () => judge((first ??= last = newProbe())),
    fresh: () => judge((last = newProbe(1))),
  };
}
