import { Timestamp } from "firebase-admin/firestore";
import { isCanonicalStorageKey } from "./storageKeys";

/**
 * Whether a canvasMedia doc is garbage, decided from the doc alone: a pure function of the doc as
 * a page of candidates read it (the mark that follows is conditioned on the doc being unchanged
 * since), also used by the dry run and `status`.
 */

/** How long a run's mark (`gcState: "deleting"` with `gcMarkedAt`) keeps other runs off an item. */
export const GC_MARK_LEASE_MS = 15 * 60_000;

/** Per-key storage failures (refused, or not confirmed) after which the GC sets an item aside for a human. */
export const GC_MAX_KEY_FAILURES = 5;

export type SkipReason = "referenced" | "young" | "no-createdAt" | "no-storageKey" | "unsafe-storageKey" | "being-deleted" | "set-aside";

export type Verdict = { eligible: true } | { eligible: false; reason: SkipReason };

export function judgeMedia(data: FirebaseFirestore.DocumentData, nowMs: number, ttlDays: number): Verdict {
  if (data.referencedByCount !== 0) return { eligible: false, reason: "referenced" };
  if (!(data.createdAt instanceof Timestamp)) return { eligible: false, reason: "no-createdAt" };
  if (data.createdAt.toMillis() > cutoffMs(nowMs, ttlDays)) return { eligible: false, reason: "young" };
  if (typeof data.storageKey !== "string" || data.storageKey === "") return { eligible: false, reason: "no-storageKey" };
  if (!isCanonicalStorageKey(data.storageKey)) return { eligible: false, reason: "unsafe-storageKey" };
  if (hasLiveMark(data, nowMs)) return { eligible: false, reason: "being-deleted" };
  const failures = gcFailuresOf(data);
  if (failures === undefined || failures >= GC_MAX_KEY_FAILURES) return { eligible: false, reason: "set-aside" };
  return { eligible: true };
}

/**
 * The doc's `gcFailures` (written by the GC only): 0 when absent, undefined when it is not a
 * non-negative integer. An item whose count is not valid is set aside, so no value written
 * there can make an item immune to setting aside.
 */
export function gcFailuresOf(data: FirebaseFirestore.DocumentData): number | undefined {
  const n: unknown = data.gcFailures;
  if (n === undefined) return 0;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Why a set-aside item is set aside, for logs and `status`. */
export function setAsideProblem(data: FirebaseFirestore.DocumentData): string {
  const n = gcFailuresOf(data);
  return n === undefined ? `gcFailures is not a non-negative integer (${String(data.gcFailures).slice(0, 50)})` : `${n} storage failures`;
}

/** S3's largest object, in bytes (5 TiB): a `size` above it is not an object's size. */
export const S3_MAX_OBJECT_BYTES = 5 * 2 ** 40;

/**
 * The doc's `size` in bytes when it is one (an integer from 0 to 5 TiB), else null: unknown,
 * left out of `bytesFreed` (so a report never sums NaN, Infinity or a negative size).
 */
export function mediaSize(data: FirebaseFirestore.DocumentData): number | null {
  const n: unknown = data.size;
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= S3_MAX_OBJECT_BYTES ? n : null;
}

/** How far ahead of this run's clock a mark may be and still count: the clocks of two runs' machines may differ by this much. */
export const GC_MARK_MAX_CLOCK_SKEW_MS = 60_000;

/**
 * Marked by a run whose lease has not run out. A released item keeps `gcState` but has no
 * `gcMarkedAt`; a mark dated in the future (beyond clock skew) was not written by a run and holds nothing.
 */
export function hasLiveMark(data: FirebaseFirestore.DocumentData, nowMs: number): boolean {
  const mark = data.gcMarkedAt;
  if (data.gcState !== "deleting" || !(mark instanceof Timestamp)) return false;
  const at = mark.toMillis();
  return at <= nowMs + GC_MARK_MAX_CLOCK_SKEW_MS && at + GC_MARK_LEASE_MS > nowMs;
}

export function cutoffMs(nowMs: number, ttlDays: number): number {
  return nowMs - ttlDays * 86_400_000;
}
