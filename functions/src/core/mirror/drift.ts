import { isDeepStrictEqual } from "node:util";
import { Timestamp } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { documentIdProblem } from "../firestoreIds";
import { docSize, MAX_DOC_BYTES } from "./docSize";
import { mergeMediaFields } from "./mediaMerge";
import { createdByFrom, isPublishable, publicProjection, WORKER_FIELDS, type Doc } from "./publicFields";
import { STATUS_SAMPLE_SIZE } from "../limits";

/**
 * What "in sync" means, for the backfill and the drift report alike: a mirror doc is in line with
 * its source when it holds exactly what an upsert task would write now (README, "What a task
 * does"): publicFields.ts's projection of the source, `images`/`videos` merged with the
 * optimization fields the mirror already has, `isPublic: true`, `isDeleted: false`, `uid`,
 * `historyId`, and `createdBy` from users/{uid}; the workers' bookkeeping (which task wrote it last,
 * and when) is not compared. A source that is missing, private or deleted has no mirror doc. Built
 * from the queue's own functions, so the queue, the backfill and verify cannot disagree: an upsert
 * of an item judged in sync changes nothing but the bookkeeping.
 */
export type DriftKind = "missing" | "differs" | "sourcePrivate" | "sourceDeleted" | "sourceGone";

export type Verdict =
  | { kind: "in-sync" }
  /** Not public, and not mirrored: nothing to do. */
  | { kind: "not-public" }
  /** The mirror doc of this historyId belongs to another user's item: no task of this item may touch it. */
  | { kind: "conflict"; owner: string }
  /** Public, but its mirror doc would pass Firestore's 1 MiB limit: the queue would dead-letter its task. */
  | { kind: "tooLarge"; bytes: number }
  /** The mirror doc has no usable uid: no task may touch it (plan.ts), an operator decides. */
  | { kind: "unowned" }
  | { kind: "missing" }
  | { kind: "differs"; fields: string[] }
  | { kind: "sourcePrivate" }
  | { kind: "sourceDeleted" };

/** Verdicts an upsert task of the item fixes. */
export type Fixable = Extract<Verdict, { kind: DriftKind }>;

export function isFixable(verdict: Verdict): verdict is Fixable {
  return (
    verdict.kind !== "in-sync" &&
    verdict.kind !== "not-public" &&
    verdict.kind !== "conflict" &&
    verdict.kind !== "tooLarge" &&
    verdict.kind !== "unowned"
  );
}

/**
 * Whether a mirror doc's `uid` can name its owner: a string Firestore takes as a document id. Any
 * other value (a number, "", a path, a reserved or overlong id) names nobody a task can be of, so
 * no task can ever own the doc (plan.ts's checkOwner refuses it): the doc is `unowned`.
 */
export const usableOwner = (uid: unknown): uid is string => typeof uid === "string" && documentIdProblem(uid) === undefined;

/** The workers' bookkeeping on a mirror doc, which an in-sync doc may hold with any value. */
const BOOKKEEPING: readonly string[] = WORKER_FIELDS.filter((f) => f !== "uid" && f !== "historyId" && f !== "createdBy");

/** The mirror doc an upsert of `source` would leave, without its bookkeeping. `mirror` is the doc as it is (for the smart merge). */
export function expectedMirror(uid: string, historyId: string, source: Doc, mirror: Doc | undefined, user: Doc | undefined): Doc {
  const { fields } = publicProjection(source);
  return { ...mergeMediaFields(mirror, fields), isPublic: true, isDeleted: false, uid, historyId, createdBy: createdByFrom(uid, user) };
}

/** Fields whose values differ between the two docs, or that one has and the other lacks, bookkeeping aside; sorted. */
export function differingFields(expected: Doc, mirror: Doc): string[] {
  const names = new Set([...Object.keys(expected), ...Object.keys(mirror)]);
  return [...names].filter((name) => !BOOKKEEPING.includes(name) && !isDeepStrictEqual(expected[name], mirror[name])).sort();
}

/**
 * Judges one history item, `generationHistory/{uid}/items/{historyId}`, against its mirror doc.
 * `user` is users/{uid}, needed only when the item is public and mirrored (see `judgeNeedsProfile`).
 */
export function judgeItem(input: { uid: string; historyId: string; source: Doc; mirror?: Doc; user?: Doc }): Verdict {
  const { uid, historyId, source, mirror } = input;
  const owner = mirror?.uid;
  // The queue refuses a task on a mirror doc without a uid (plan.ts), and one whose uid does not own the mirror doc.
  if (mirror && !usableOwner(owner)) return { kind: "unowned" };
  const ownedByOther = usableOwner(owner) && owner !== uid;
  if (!isPublishable(source)) {
    // Another user's public item holds this historyId: nothing of this item is published, nothing to do.
    if (!mirror || ownedByOther) return { kind: "not-public" };
    return source.isDeleted === true ? { kind: "sourceDeleted" } : { kind: "sourcePrivate" };
  }
  if (ownedByOther) return { kind: "conflict", owner };
  const expected = expectedMirror(uid, historyId, source, mirror, input.user);
  const bytes = upsertSize(historyId, expected);
  if (bytes > MAX_DOC_BYTES) return { kind: "tooLarge", bytes };
  if (!mirror) return { kind: "missing" };
  const fields = differingFields(expected, mirror);
  return fields.length ? { kind: "differs", fields } : { kind: "in-sync" };
}

/**
 * The size of the mirror doc a repair task would write (applyTask.ts refuses one over the limit):
 * `expected` and the bookkeeping of a task with a repair task's 32-character id. Without the
 * user's profile (a missing mirror doc: not read), `createdBy` counts as nulls, so this is a lower
 * bound: an item past it is certainly too large.
 */
function upsertSize(historyId: string, expected: Doc): number {
  const stamp = Timestamp.fromMillis(0);
  return docSize(`${COLLECTIONS.publicGenerations}/${historyId}`, {
    ...expected,
    mirrorTaskId: "0".repeat(32),
    mirrorTaskCreatedAt: stamp,
    mirroredAt: stamp,
  });
}

/** Whether judging the item needs users/{uid}: only to compare `createdBy` of a public, mirrored item it owns. */
export function judgeNeedsProfile(uid: string, source: Doc, mirror: Doc | undefined): boolean {
  return mirror !== undefined && isPublishable(source) && mirror.uid === uid;
}

/** What the backfill and verify report: each kind of drift they met, counted, with a sample. */
export const REPORTED_DRIFT = [
  "missing",
  "differs",
  "sourcePrivate",
  "sourceDeleted",
  "sourceGone",
  "conflict",
  "tooLarge",
  "unowned",
] as const;
export type ReportedDrift = (typeof REPORTED_DRIFT)[number];

/**
 * Kinds that are reported but are not the mirror out of line, and that no task and no operator's
 * work on the mirror can change: items the mirror cannot hold, which any signed-in user can create
 * at will (a public item with another user's historyId; a public item of about 1 MiB). Counting
 * them as drift would let any user keep verify failing; they do not count in `driftTotal`.
 */
export const UNPUBLISHABLE: readonly ReportedDrift[] = ["conflict", "tooLarge"];

export interface DriftEntry {
  /** The item's owner; null for a mirror doc whose `uid` is unusable. */
  uid: string | null;
  historyId: string;
  /** `differs`: the fields that differ. */
  fields?: string[];
  /** `conflict`: the user the mirror doc belongs to. */
  owner?: string;
  /** `tooLarge`: the mirror doc's size in bytes. */
  bytes?: number;
}

export type DriftCounts = Record<ReportedDrift, { count: number; sample: DriftEntry[] }>;

export const emptyDrift = (): DriftCounts =>
  Object.fromEntries(REPORTED_DRIFT.map((k) => [k, { count: 0, sample: [] }])) as unknown as DriftCounts;

export function recordDrift(drift: DriftCounts, kind: ReportedDrift, entry: DriftEntry): void {
  const slot = drift[kind];
  slot.count++;
  if (slot.sample.length < STATUS_SAMPLE_SIZE) slot.sample.push(entry);
}

/** Drift that leaves the mirror out of line: every kind but the UNPUBLISHABLE ones. */
export const driftTotal = (drift: DriftCounts): number =>
  REPORTED_DRIFT.reduce((sum, k) => sum + (UNPUBLISHABLE.includes(k) ? 0 : drift[k].count), 0);

export const unpublishableTotal = (drift: DriftCounts): number => UNPUBLISHABLE.reduce((sum, k) => sum + drift[k].count, 0);

/** The report entry of a judged item whose verdict is drift. */
export function driftEntry(uid: string, historyId: string, verdict: Verdict): DriftEntry {
  if (verdict.kind === "differs") return { uid, historyId, fields: verdict.fields };
  if (verdict.kind === "conflict") return { uid, historyId, owner: verdict.owner };
  if (verdict.kind === "tooLarge") return { uid, historyId, bytes: verdict.bytes };
  return { uid, historyId };
}
