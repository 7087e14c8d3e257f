import { Timestamp, type Firestore } from "firebase-admin/firestore";
import { countOf } from "../count";
import { cutoffMs, judgeMedia, setAsideProblem } from "./eligibility";
import { mediaGCQuery, readCandidates } from "./runMediaGC";
import { storageKeyProblem } from "./storageKeys";
import { COUNT_CAP, STATUS_GC_CANDIDATE_READS, STATUS_SAMPLE_SIZE } from "../limits";

/** An unreferenced, old media doc the GC will not delete until a person acts. */
export interface MediaNeedingAttention {
  id: string;
  storageKey: string;
  reason: "set-aside" | "unsafe-storageKey";
  /** The storage failures and the last error (set aside), or what is wrong with the key. */
  detail: string;
}

/** The media GC's part of `status`: what a run would do now, judged as the run judges. */
export interface MediaGCHealth {
  ttlDays: number;
  /** Unreferenced media older than the TTL (the GC's query, a count aggregation), whatever their state. */
  unreferencedOld: number;
  /** How many of them (the oldest first, as the GC reads them) were judged. */
  examined: number;
  /** Of those, the records a run would delete now (a dry run lists the same). */
  candidates: number;
  /** Of those, the ones a run would leave, by reason (eligibility.ts). */
  skipped: Record<string, number>;
  /** The set-aside and unsafe-key items among them, at most STATUS_SAMPLE_SIZE. */
  needsAttention: MediaNeedingAttention[];
  /** False when there were more than `examined` to judge: the numbers are those of the oldest ones. */
  complete: boolean;
}

/**
 * Reads up to `maxReads` candidate docs (one read each, plus one per 1,000 for the count) and
 * judges each with `judgeMedia`, so `candidates` is what a run would delete, not everything the
 * query returns. The shared-key check is not made: a record whose key another doc names is
 * counted, as a run deletes that record (and keeps the object).
 */
export async function getMediaGCHealth(
  db: Firestore,
  nowMs: number,
  ttlDays: number,
  { maxReads = STATUS_GC_CANDIDATE_READS } = {},
): Promise<MediaGCHealth> {
  const query = mediaGCQuery(db, Timestamp.fromMillis(cutoffMs(nowMs, ttlDays)), maxReads);
  const [unreferencedOld, page] = await Promise.all([countOf(query.limit(COUNT_CAP)), readCandidates(query)]);
  const status: MediaGCHealth = {
    ttlDays,
    unreferencedOld,
    examined: page.size,
    candidates: 0,
    skipped: {},
    needsAttention: [],
    complete: page.size < maxReads || unreferencedOld <= maxReads,
  };
  for (const doc of page.docs) {
    const verdict = judgeMedia(doc.data(), nowMs, ttlDays);
    if (verdict.eligible) {
      status.candidates++;
      continue;
    }
    status.skipped[verdict.reason] = (status.skipped[verdict.reason] ?? 0) + 1;
    if ((verdict.reason === "set-aside" || verdict.reason === "unsafe-storageKey") && status.needsAttention.length < STATUS_SAMPLE_SIZE) {
      const detail =
        verdict.reason === "set-aside"
          ? `${setAsideProblem(doc.data())}; last: ${String(doc.get("gcLastError") ?? "-")}`
          : `the key ${storageKeyProblem(doc.get("storageKey"))}`;
      status.needsAttention.push({ id: doc.id, storageKey: String(doc.get("storageKey")).slice(0, 200), reason: verdict.reason, detail });
    }
  }
  return status;
}
