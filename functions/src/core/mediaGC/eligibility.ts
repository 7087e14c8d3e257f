import { Timestamp } from "firebase-admin/firestore";

/**
 * Whether a canvasMedia doc is garbage, decided from the doc alone: a pure function, used both
 * when the GC picks candidates and again at the moment it marks one for deletion.
 */
export const GC_MARK_LEASE_MS = 15 * 60_000;

export type Verdict =
  | { eligible: true }
  | { eligible: false; reason: "referenced" | "young" | "no-createdAt" | "no-storageKey" | "being-deleted" };

export function judgeMedia(data: FirebaseFirestore.DocumentData, nowMs: number, ttlDays: number): Verdict {
  if (data.referencedByCount !== 0) return { eligible: false, reason: "referenced" };
  if (!(data.createdAt instanceof Timestamp)) return { eligible: false, reason: "no-createdAt" };
  if (data.createdAt.toMillis() > cutoffMs(nowMs, ttlDays)) return { eligible: false, reason: "young" };
  if (typeof data.storageKey !== "string" || data.storageKey === "") return { eligible: false, reason: "no-storageKey" };
  const mark = data.gcMarkedAt;
  if (data.gcState === "deleting" && mark instanceof Timestamp && mark.toMillis() + GC_MARK_LEASE_MS > nowMs) {
    return { eligible: false, reason: "being-deleted" };
  }
  return { eligible: true };
}

export function cutoffMs(nowMs: number, ttlDays: number): number {
  return nowMs - ttlDays * 86_400_000;
}
