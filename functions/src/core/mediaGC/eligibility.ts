import { Timestamp } from "firebase-admin/firestore";

/**
 * Whether a canvasMedia doc is garbage, decided from the doc alone: a pure function, used both
 * when the GC picks candidates and again at the moment it marks one for deletion.
 */

/** How long a run's mark (`gcState: "deleting"` with `gcMarkedAt`) keeps other runs off an item. */
export const GC_MARK_LEASE_MS = 15 * 60_000;

/** Per-key storage failures (refused, or not confirmed) after which the GC sets an item aside for a human. */
export const GC_MAX_KEY_FAILURES = 5;

/** S3's longest object key, in UTF-8 bytes. */
export const S3_MAX_KEY_BYTES = 1024;

export type SkipReason =
  | "referenced"
  | "young"
  | "no-createdAt"
  | "no-storageKey"
  | "unsafe-storageKey"
  | "being-deleted"
  | "set-aside";

export type Verdict = { eligible: true } | { eligible: false; reason: SkipReason };

/**
 * A storage key the GC may send in a bulk delete: a non-empty string S3 can hold (at most 1,024
 * UTF-8 bytes) without control characters or whitespace at either end. XML parsers on the store's
 * side may change such a key (s3rver trims it and turns \r into \n), and the bulk delete would
 * then delete another object, or none.
 */
export function isSafeStorageKey(key: unknown): key is string {
  if (typeof key !== "string" || key === "" || key.trim() !== key) return false;
  if (Buffer.byteLength(key, "utf8") > S3_MAX_KEY_BYTES) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

export function judgeMedia(data: FirebaseFirestore.DocumentData, nowMs: number, ttlDays: number): Verdict {
  if (data.referencedByCount !== 0) return { eligible: false, reason: "referenced" };
  if (!(data.createdAt instanceof Timestamp)) return { eligible: false, reason: "no-createdAt" };
  if (data.createdAt.toMillis() > cutoffMs(nowMs, ttlDays)) return { eligible: false, reason: "young" };
  if (typeof data.storageKey !== "string" || data.storageKey === "") return { eligible: false, reason: "no-storageKey" };
  if (!isSafeStorageKey(data.storageKey)) return { eligible: false, reason: "unsafe-storageKey" };
  if (hasLiveMark(data, nowMs)) return { eligible: false, reason: "being-deleted" };
  if (typeof data.gcFailures === "number" && data.gcFailures >= GC_MAX_KEY_FAILURES) return { eligible: false, reason: "set-aside" };
  return { eligible: true };
}

/** Marked by a run whose lease has not run out. A released item keeps `gcState` but has no `gcMarkedAt`. */
export function hasLiveMark(data: FirebaseFirestore.DocumentData, nowMs: number): boolean {
  const mark = data.gcMarkedAt;
  return data.gcState === "deleting" && mark instanceof Timestamp && mark.toMillis() + GC_MARK_LEASE_MS > nowMs;
}

export function cutoffMs(nowMs: number, ttlDays: number): number {
  return nowMs - ttlDays * 86_400_000;
}
