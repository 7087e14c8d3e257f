import type { Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { driftEntry, isFixable, judgeItem, judgeNeedsProfile, recordDrift, type DriftCounts, type Verdict } from "./drift";
import type { HistoryItem } from "./historyWalk";
import type { Doc } from "./publicFields";
import type { RepairTarget } from "./repairTasks";

export interface Judged {
  item: HistoryItem;
  /** The item's mirror doc as read. */
  mirror?: Doc;
  verdict: Verdict;
}

const dataOf = (snap: FirebaseFirestore.DocumentSnapshot): Doc | undefined => (snap.exists ? snap.data() : undefined);

/**
 * Judges a page of history items against their mirror docs (drift.ts). Reads: 1 per item (its
 * mirror doc, found or not) and 1 per distinct owner whose public, mirrored items need `createdBy`
 * compared (users/{uid}). Plain reads, no transaction: a verdict can be stale by the time it is
 * acted on, which is why the fix is a task that reads the source again in its own transaction.
 */
export async function judgeHistoryItems(db: Firestore, items: HistoryItem[]): Promise<Judged[]> {
  if (!items.length) return [];
  const mirrors = (await db.getAll(...items.map((i) => db.collection(COLLECTIONS.publicGenerations).doc(i.historyId)))).map(dataOf);
  const uids = [...new Set(items.filter((item, i) => judgeNeedsProfile(item.uid, item.data, mirrors[i])).map((item) => item.uid))];
  const profiles = uids.length ? await db.getAll(...uids.map((uid) => db.collection(COLLECTIONS.users).doc(uid))) : [];
  const byUid = new Map(profiles.map((p) => [p.id, dataOf(p)]));
  return items.map((item, i) => ({
    item,
    mirror: mirrors[i],
    verdict: judgeItem({ uid: item.uid, historyId: item.historyId, source: item.data, mirror: mirrors[i], user: byUid.get(item.uid) }),
  }));
}

/** What a walk over history items met so far. */
export interface ItemTally {
  /** Public items whose mirror doc is in line. */
  matching: number;
  /** Items that are not public and have no mirror doc. */
  notPublic: number;
  drift: DriftCounts;
}

/** Counts a judged page into `tally`; returns the items an upsert task fixes. */
export function tallyJudged(judged: Judged[], tally: ItemTally): RepairTarget[] {
  const fixes: RepairTarget[] = [];
  for (const { item, verdict } of judged) {
    if (verdict.kind === "in-sync") tally.matching++;
    else if (verdict.kind === "not-public") tally.notPublic++;
    else recordDrift(tally.drift, verdict.kind, driftEntry(item.uid, item.historyId, verdict));
    if (isFixable(verdict)) fixes.push({ uid: item.uid, historyId: item.historyId });
  }
  return fixes;
}
