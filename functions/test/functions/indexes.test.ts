import { readFileSync } from "node:fs";
import { join } from "node:path";
import { deleteApp, initializeApp } from "firebase-admin/app";
import { getFirestore, Timestamp, type Query } from "firebase-admin/firestore";
import { mediaGCQuery } from "../../src/core/mediaGC/runMediaGC";
import { dueTaskQueries } from "../../src/core/mirror/drain";
import { deadLetterPageQuery } from "../../src/core/mirror/deadLetterCheck";
import {
  implausibleLeaseQuery,
  implausibleRetryQuery,
  leaseExpiredQuery,
  oldestPendingQuery,
  pendingQuery,
  retryDueQuery,
} from "../../src/core/mirror/dueTasks";
import { historyItemsQuery } from "../../src/core/mirror/historyWalk";
import { auditQuery } from "../../src/core/mirror/queueAudit";
import { deadLetterQueries } from "../../src/core/mirror/queueStatus";
import { signupCacheQuery } from "../../src/core/signupCache/refreshSignupImageCache";
import * as snapshotQueries from "../../src/core/snapshots/candidates";
import { failingQuery, retryDueQuery as snapshotRetryDueQuery } from "../../src/core/snapshots/failures";
import { opsAfterQuery } from "../../src/core/snapshots/loadProject";
import { snapshotsNewestFirstQuery } from "../../src/core/snapshots/snapshotProject";

/**
 * The emulator does not enforce indexes; production does. For every query the workers run, this
 * derives the composite index it needs from the query itself (its structured-query proto) and
 * checks that firestore.indexes.json declares it.
 */
type IndexField = { fieldPath: string; order: "ASCENDING" | "DESCENDING" };
type Index = { collectionGroup: string; fields: IndexField[] };

const declared: Index[] = JSON.parse(readFileSync(join(__dirname, "../../../firestore.indexes.json"), "utf8")).indexes;
const app = initializeApp({ projectId: "demo-indexes" }, "indexes");
const db = getFirestore(app);
afterAll(() => deleteApp(app));
const now = Timestamp.now();

type Proto = {
  from: { collectionId: string; allDescendants?: boolean }[];
  where?: { fieldFilter?: FieldFilter; compositeFilter?: { filters: { fieldFilter: FieldFilter }[] } };
  orderBy?: { field: { fieldPath: string }; direction: "ASCENDING" | "DESCENDING" }[];
};
type FieldFilter = { field: { fieldPath: string }; op: string };

/** The composite index a query needs (equality fields in any order, then the ordered tail), or undefined. */
interface Needed {
  collectionGroup: string;
  equality: string[];
  tail: IndexField[];
}

function requiredIndex(query: Query): Needed | undefined {
  const proto = (query as unknown as { toProto(): { structuredQuery: Proto } }).toProto().structuredQuery;
  const filters =
    proto.where?.compositeFilter?.filters.map((f) => f.fieldFilter) ?? (proto.where?.fieldFilter ? [proto.where.fieldFilter] : []);
  const equality = [...new Set(filters.filter((f) => f.op === "EQUAL").map((f) => f.field.fieldPath))];
  const ranges = [...new Set(filters.filter((f) => f.op !== "EQUAL").map((f) => f.field.fieldPath))];
  const orders: IndexField[] = (proto.orderBy ?? []).map((o) => ({ fieldPath: o.field.fieldPath, order: o.direction }));
  // Inequality fields not ordered explicitly are ordered implicitly, ascending, by field path.
  for (const field of [...ranges].sort())
    if (!orders.some((o) => o.fieldPath === field)) orders.push({ fieldPath: field, order: "ASCENDING" });
  const tail = orders.filter((o) => o.fieldPath !== "__name__" && !equality.includes(o.fieldPath));
  // One field, or equalities only: Firestore serves these from its automatic single-field indexes.
  if (equality.length + tail.length <= 1 || tail.length === 0) return undefined;
  return { collectionGroup: proto.from[0].collectionId, equality, tail };
}

function isDeclared(needed: Needed): boolean {
  return declared.some((index) => {
    if (index.collectionGroup !== needed.collectionGroup || index.fields.length !== needed.equality.length + needed.tail.length)
      return false;
    const head = index.fields.slice(0, needed.equality.length);
    const tail = index.fields.slice(needed.equality.length);
    return (
      head.every((f) => needed.equality.includes(f.fieldPath) && f.order === "ASCENDING") &&
      tail.every((f, i) => f.fieldPath === needed.tail[i].fieldPath && f.order === needed.tail[i].order)
    );
  });
}

const QUERIES: Record<string, Query> = {
  "mirror: pending tasks": pendingQuery(db, 12).startAfter("x"),
  "mirror: oldest pending task": oldestPendingQuery(db),
  "mirror: retry-due tasks": retryDueQuery(db, now, 12),
  "mirror: lease-expired tasks": leaseExpiredQuery(db, now, 12),
  "mirror: audit": auditQuery(db, "x", 200),
  "mirror: leases no worker writes": implausibleLeaseQuery(db, now, 12),
  "mirror: retry times no worker writes": implausibleRetryQuery(db, now, 12),
  "mirror: dead letters to re-check": deadLetterPageQuery(db, "x", 50),
  "mirror: dead letters, newest first": deadLetterQueries(db, 5).marked.orderBy("failedAt", "desc").limit(20),
  "mirror: failed tasks at the attempts limit": deadLetterQueries(db, 5).exhausted.limit(20),
  "media GC: candidates": mediaGCQuery(db, now, 100),
  "signup cache: best images": signupCacheQuery(db, 6, 24),
  "snapshots: due by ops, oldest in the queue first": snapshotQueries.dueByOpsQuery(db, 100, now).limit(200),
  "snapshots: due by age, oldest in the queue first": snapshotQueries.dueByAgeQuery(db, now, now).limit(200),
  "snapshots: failing, retry due": snapshotRetryDueQuery(db, now).limit(200),
  "snapshots: updated since the cursor": snapshotQueries.updatedSinceQuery(db, { updatedAt: now, projectId: "p" }, now).limit(500),
  "snapshots: failing, most recent first (status)": failingQuery(db).limit(20),
  "snapshots: counters due by ops (status)": snapshotQueries.countersDueByOpsQuery(db, 100),
  "snapshots: counters due by age (status)": snapshotQueries.countersDueByAgeQuery(db, now),
  "snapshots: newest first (retention)": snapshotsNewestFirstQuery(db, "p"),
  "loadProject: ops after the snapshot": opsAfterQuery(db, "p", 10),
  "mirror backfill/verify: every history item": historyItemsQuery(db, {}).startAfter(db.doc("generationHistory/u/items/h")).limit(300),
  "mirror backfill: one user's items": historyItemsQuery(db, { uid: "u" }).limit(300),
  "mirror backfill: one user's items updated since": historyItemsQuery(db, { uid: "u", since: now }).limit(300),
  "mirror backfill: items updated since": historyItemsQuery(db, { since: now })
    .startAfter(now, db.doc("generationHistory/u/items/h"))
    .limit(300),
  ...Object.fromEntries(dueTaskQueries(db, now.toMillis()).map((q, i) => [`mirror drain: due tasks, count ${i + 1}`, q])),
};

/** The queries Firestore serves from its automatic single-field indexes. */
const SINGLE_FIELD_QUERIES = new Set([
  "mirror: pending tasks",
  "mirror: dead letters to re-check",
  "mirror: audit",
  "signup cache: best images",
  "snapshots: failing, retry due",
  "snapshots: updated since the cursor",
  "snapshots: failing, most recent first (status)",
  "snapshots: counters due by ops (status)",
  "snapshots: newest first (retention)",
  "loadProject: ops after the snapshot",
  "mirror backfill/verify: every history item",
  "mirror backfill: one user's items",
  "mirror backfill: one user's items updated since",
  "mirror backfill: items updated since",
  "mirror drain: due tasks, count 1",
]);

/**
 * A collection-group query that filters or orders on a field needs that field indexed with
 * collection-group scope, which Firestore does not keep by default (single-field indexes are
 * kept for collection scope only): declared as a field override.
 */
function collectionGroupFieldsNeeded(query: Query): IndexField[] {
  const proto = (query as unknown as { toProto(): { structuredQuery: Proto } }).toProto().structuredQuery;
  if (!proto.from[0].allDescendants) return [];
  const filters =
    proto.where?.compositeFilter?.filters.map((f) => f.fieldFilter) ?? (proto.where?.fieldFilter ? [proto.where.fieldFilter] : []);
  const fields: IndexField[] = (proto.orderBy ?? []).map((o) => ({ fieldPath: o.field.fieldPath, order: o.direction }));
  for (const f of filters)
    if (!fields.some((o) => o.fieldPath === f.field.fieldPath)) fields.push({ fieldPath: f.field.fieldPath, order: "ASCENDING" });
  return fields.filter((f) => f.fieldPath !== "__name__");
}

type Override = { collectionGroup: string; fieldPath: string; indexes: { order?: string; queryScope: string }[] };
const overrides: Override[] = JSON.parse(readFileSync(join(__dirname, "../../../firestore.indexes.json"), "utf8")).fieldOverrides;

describe("firestore.indexes.json", () => {
  it.each(Object.keys(QUERIES))("declares the composite index of %s, or it needs none", (name) => {
    const needed = requiredIndex(QUERIES[name]);
    const index = needed === undefined ? "no composite index needed" : isDeclared(needed) ? "declared" : "not declared";
    expect({ name, index }).toEqual({ name, index: SINGLE_FIELD_QUERIES.has(name) ? "no composite index needed" : "declared" });
  });

  it.each(Object.keys(QUERIES))("declares the collection-group field indexes of %s", (name) => {
    const group = (QUERIES[name] as unknown as { toProto(): { structuredQuery: Proto } }).toProto().structuredQuery.from[0].collectionId;
    for (const field of collectionGroupFieldsNeeded(QUERIES[name])) {
      const declared = overrides.some(
        (o) =>
          o.collectionGroup === group &&
          o.fieldPath === field.fieldPath &&
          o.indexes.some((i) => i.queryScope === "COLLECTION_GROUP" && i.order === field.order),
      );
      expect({ name, field, declared }).toEqual({ name, field, declared: true });
    }
  });

  it("keeps the collection-scope indexes of a field whose override adds a collection-group one (an override replaces the defaults)", () => {
    const items = overrides.find((o) => o.collectionGroup === "items" && o.fieldPath === "updatedAt")!;
    expect(items.indexes).toEqual(
      expect.arrayContaining([
        { order: "ASCENDING", queryScope: "COLLECTION" },
        { order: "DESCENDING", queryScope: "COLLECTION" },
        { arrayConfig: "CONTAINS", queryScope: "COLLECTION" },
      ]),
    );
  });

  it("knows a query that needs a collection-group field index when it sees one", () => {
    expect(collectionGroupFieldsNeeded(db.collectionGroup("items").where("nowhere", ">", 1))).toEqual([
      { fieldPath: "nowhere", order: "ASCENDING" },
    ]);
  });

  it("knows a query that needs a composite index when it sees one", () => {
    const needed = requiredIndex(db.collection("mirrorQueue").where("status", "==", "x").orderBy("nowhere"));
    expect(needed).toEqual({ collectionGroup: "mirrorQueue", equality: ["status"], tail: [{ fieldPath: "nowhere", order: "ASCENDING" }] });
    expect(isDeclared(needed!)).toBe(false);
  });

  it("exempts the elements inside snapshots and their parts from indexing (nothing queries them; a snapshot could pass the index-entry limit)", () => {
    const overrides = JSON.parse(readFileSync(join(__dirname, "../../../firestore.indexes.json"), "utf8")).fieldOverrides;
    expect(overrides).toEqual(
      expect.arrayContaining(["snapshots", "parts"].map((collectionGroup) => ({ collectionGroup, fieldPath: "elements", indexes: [] }))),
    );
  });

  it("declares TTL policies for the done tasks and the removed mirror state", () => {
    const overrides = JSON.parse(readFileSync(join(__dirname, "../../../firestore.indexes.json"), "utf8")).fieldOverrides;
    expect(overrides).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ collectionGroup: "mirrorQueue", fieldPath: "expireAt", ttl: true }),
        expect.objectContaining({ collectionGroup: "mirrorState", fieldPath: "expireAt", ttl: true }),
      ]),
    );
  });
});
