import { FieldPath, Timestamp, type Firestore, type Query, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { countOf } from "../count";
import { PermanentError } from "../errors";
import { COUNT_CAP } from "../limits";
import { documentIdProblem } from "../firestoreIds";
import { docSize } from "./docSize";
import type { Doc } from "./publicFields";

/**
 * Walks history items in pages, from a cursor, in a fixed order, so a walk can stop and resume:
 *
 * - every item: a collection-group query over `items`, ordered by path and bounded to the paths
 *   under `generationHistory/` (the bounds the Firestore SDK's recursive delete uses), so items of
 *   other collections named `items` are not read;
 * - one user's items (`uid`): `generationHistory/{uid}/items`, ordered by id;
 * - items updated since a time (`since`): `updatedAt >= since`, ordered by `updatedAt` then path.
 *   On a collection group this needs the collection-group index on `items.updatedAt`
 *   (firestore.indexes.json), cannot also bound the path, and so reads the items of other `items`
 *   collections updated since then too (skipped and counted). An item whose `updatedAt` is not a
 *   Timestamp is never "updated since". An item updated during the walk moves ahead of the cursor
 *   and is met again, which the callers make harmless.
 *
 * A document is a history item only at `generationHistory/{uid}/items/{historyId}`; deeper ones are skipped.
 */
export interface WalkScope {
  uid?: string;
  since?: Timestamp;
}

/** The last document a walk handed out: its path, and its `updatedAt` for a `since` walk. */
export interface WalkCursor {
  path: string;
  updatedAt?: Timestamp;
}

export interface HistoryItem {
  uid: string;
  historyId: string;
  data: Doc;
}

export interface HistoryPage {
  items: HistoryItem[];
  /** Documents read that are not history items (another `items` collection, a deeper one). */
  notItems: number;
  /** Where the next page starts; undefined when the page read nothing. */
  cursor?: WalkCursor;
  /** The walk is over: the page was not full. */
  last: boolean;
  /** The largest document read, in bytes. */
  largestBytes: number;
}

/** A walk's pace in documents a second unless told otherwise, and the highest it takes. */
export const DEFAULT_WALK_RATE = 200;
export const MAX_WALK_RATE = 5000;

/** Documents a page at most, when told (`pageSize`): a page's mirror docs are read in one request. */
export const MAX_PAGE_SIZE = 300;

/**
 * Bytes of documents a page holds, about: the next page's size is what fits this at the largest
 * document of the page before (PageSizer). A page also reads as many mirror docs, and the SDK
 * holds a few copies of each document while it decodes: with this, a walk over ~1 MiB items (the
 * rules bound no field of a history item) holds about 16 of them at once, within a 256 MiB function.
 */
export const PAGE_BYTES = 16 * 1024 * 1024;

/** The first page of an invocation, whatever the rate: a run stopped on large items (out of memory) gets past them the next time. */
export const FIRST_PAGE_SIZE = 16;

/**
 * Page sizes of a walk: the first FIRST_PAGE_SIZE documents, then each page at most twice the one
 * before, and no more than PAGE_BYTES at the largest document of the page before, so pages shrink
 * as soon as documents are large. A query cannot be limited by bytes (and a streamed query left
 * early still receives the rest of its results), so the bound comes from the documents already
 * read: a page right after small documents can meet large ones (README, "Backfill and drift").
 */
export class PageSizer {
  private limit: number;

  constructor(
    private readonly max: number,
    first = FIRST_PAGE_SIZE,
  ) {
    this.limit = Math.min(max, first);
  }

  /** Documents the next page may hold. */
  get next(): number {
    return this.limit;
  }

  /** Sizes the next page from the largest document (bytes, docSize.ts) of the page just read. */
  record(largestBytes: number): void {
    const fit = Math.max(1, Math.floor(PAGE_BYTES / Math.max(largestBytes, 1)));
    this.limit = Math.min(this.max, 2 * this.limit, fit);
  }
}

/** The largest of `docs`, in bytes. */
export const largestDoc = (docs: QueryDocumentSnapshot[]): number =>
  docs.reduce((max, doc) => Math.max(max, docSize(doc.ref.path, doc.data())), 0);

/** About a second of work at the rate, from 10 to MAX_PAGE_SIZE documents: each page is a burst of reads. */
export const pageSizeFor = (rate: number) => Math.min(MAX_PAGE_SIZE, Math.max(10, Math.round(rate)));

/** Throws PermanentError (the callable's invalid-argument, the CLI's exit 2) for options no run can take. */
export function checkWalkOptions(options: { uid?: string; rate?: number; pageSize?: number }): void {
  const { uid, rate, pageSize } = options;
  const integerIn = (v: number, min: number, max: number) => Number.isInteger(v) && v >= min && v <= max;
  if (uid !== undefined && documentIdProblem(uid)) throw new PermanentError(`uid ${documentIdProblem(uid)}`, "uid");
  if (rate !== undefined && !integerIn(rate, 1, MAX_WALK_RATE))
    throw new PermanentError(`rate must be an integer from 1 to ${MAX_WALK_RATE} items a second, got ${rate}`, "rate");
  if (pageSize !== undefined && !integerIn(pageSize, 1, MAX_PAGE_SIZE))
    throw new PermanentError(`pageSize must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${pageSize}`, "pageSize");
}

// The smallest document id Firestore orders (numeric ids sort first), and a collection id just past "generationHistory".
const MIN_ID = "__id-9223372036854775808__";
const FIRST_ITEM = `${COLLECTIONS.generationHistory}/${MIN_ID}/${COLLECTIONS.historyItems}/${MIN_ID}`;
const PAST_LAST_ITEM = `${COLLECTIONS.generationHistory}\0/${MIN_ID}/${COLLECTIONS.historyItems}/${MIN_ID}`;

/** The walk's query, ordered, without cursor or limit. */
export function historyItemsQuery(db: Firestore, scope: WalkScope): Query {
  const source: Query =
    scope.uid !== undefined
      ? db.collection(`${COLLECTIONS.generationHistory}/${scope.uid}/${COLLECTIONS.historyItems}`)
      : db.collectionGroup(COLLECTIONS.historyItems);
  if (scope.since) return source.where("updatedAt", ">=", scope.since).orderBy("updatedAt").orderBy(FieldPath.documentId());
  if (scope.uid !== undefined) return source.orderBy(FieldPath.documentId());
  return source
    .where(FieldPath.documentId(), ">=", FIRST_ITEM)
    .where(FieldPath.documentId(), "<", PAST_LAST_ITEM)
    .orderBy(FieldPath.documentId());
}

/** How many documents the walk will read, up to COUNT_CAP (a count aggregation: 1 read per 1,000 index entries). */
export function countHistoryItems(db: Firestore, scope: WalkScope): Promise<number> {
  return countOf(historyItemsQuery(db, scope).limit(COUNT_CAP));
}

/** `{uid, historyId}` when `path` is a history item's, `generationHistory/{uid}/items/{historyId}` with valid ids. */
export function historyItemOf(path: string): { uid: string; historyId: string } | undefined {
  const [root, uid, items, historyId, ...deeper] = path.split("/");
  if (root !== COLLECTIONS.generationHistory || items !== COLLECTIONS.historyItems || historyId === undefined || deeper.length)
    return undefined;
  if (documentIdProblem(uid) !== undefined || documentIdProblem(historyId) !== undefined) return undefined;
  return { uid, historyId };
}

/**
 * A stored cursor, checked. A cursor is a position in the scope's query, not an item: any document
 * the query can return may end a page (a deeper `items` doc in the default walk, another
 * collection's `items` doc in a `since` walk), so any such path is kept. It must be a document of
 * an `items` collection with valid ids; under `generationHistory/` for the default walk; a history
 * item of the user for a `uid` walk; and carry a Timestamp for a `since` walk. Anything else is
 * undefined (the caller starts the walk over).
 */
export function parseWalkCursor(scope: WalkScope, value: unknown): WalkCursor | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { path, updatedAt } = value as Record<string, unknown>;
  if (typeof path !== "string" || !inWalk(scope, path)) return undefined;
  if (!scope.since) return { path };
  return updatedAt instanceof Timestamp ? { path, updatedAt } : undefined;
}

/** Whether the scope's query can return the document at `path`. */
function inWalk(scope: WalkScope, path: string): boolean {
  if (scope.uid !== undefined) return historyItemOf(path)?.uid === scope.uid;
  const segments = path.split("/");
  if (segments.length % 2 !== 0 || segments[segments.length - 2] !== COLLECTIONS.historyItems) return false;
  if (segments.some((segment) => documentIdProblem(segment) !== undefined)) return false;
  return scope.since !== undefined || segments[0] === COLLECTIONS.generationHistory;
}

/** A page of the walk from `cursor`: at most `limit` documents (PageSizer sizes it). */
export async function readHistoryPage(
  db: Firestore,
  scope: WalkScope,
  cursor: WalkCursor | undefined,
  limit: number,
): Promise<HistoryPage> {
  let query = historyItemsQuery(db, scope).limit(limit);
  if (cursor) query = scope.since ? query.startAfter(cursor.updatedAt, db.doc(cursor.path)) : query.startAfter(db.doc(cursor.path));
  const page = await query.get();
  const items: HistoryItem[] = [];
  for (const doc of page.docs) {
    const item = historyItemOf(doc.ref.path);
    if (item) items.push({ ...item, data: doc.data() });
  }
  const lastDoc: QueryDocumentSnapshot | undefined = page.docs[page.size - 1];
  const next =
    lastDoc && (scope.since ? { path: lastDoc.ref.path, updatedAt: lastDoc.get("updatedAt") as Timestamp } : { path: lastDoc.ref.path });
  return { items, notItems: page.size - items.length, cursor: next, last: page.size < limit, largestBytes: largestDoc(page.docs) };
}

/** The public mirror in id order, a page at a time (verify's second walk). */
export async function readMirrorPage(
  db: Firestore,
  after: string | undefined,
  limit: number,
): Promise<{ docs: QueryDocumentSnapshot[]; last: boolean }> {
  let query = db.collection(COLLECTIONS.publicGenerations).orderBy(FieldPath.documentId()).limit(limit);
  if (after !== undefined) query = query.startAfter(after);
  const page = await query.get();
  return { docs: page.docs, last: page.size < limit };
}
