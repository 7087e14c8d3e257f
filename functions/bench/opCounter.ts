/**
 * Counts Firestore operations as billed (document reads, document writes) by instrumenting the
 * Firestore SDK's own read and commit paths in this process: every doc a lookup returns (found or
 * not), every doc a query returns (at least 1 per query), 1 per aggregation, and every write of a
 * successful commit (batches, transactions, single-doc writes, BulkWriter). Benchmarks only.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const { DocumentReader } = require("@google-cloud/firestore/build/src/document-reader");
const { Query } = require("@google-cloud/firestore/build/src/reference/query");
const { AggregateQuery } = require("@google-cloud/firestore/build/src/reference/aggregate-query");
const { WriteBatch } = require("@google-cloud/firestore/build/src/write-batch");
/* eslint-enable @typescript-eslint/no-require-imports */

export interface OpCounts {
  reads: number;
  writes: number;
}

export const counts: OpCounts = { reads: 0, writes: 0 };
let installed = false;

export function installOpCounter(): void {
  if (installed) return;
  installed = true;
  const readerGet = DocumentReader.prototype._get;
  DocumentReader.prototype._get = async function (this: unknown, ...args: unknown[]) {
    const out = await readerGet.apply(this, args);
    counts.reads += out.result.length;
    return out;
  };
  const queryGet = Query.prototype._get;
  Query.prototype._get = async function (this: unknown, ...args: unknown[]) {
    const out = await queryGet.apply(this, args);
    counts.reads += Math.max(1, out.result.size);
    return out;
  };
  const aggregateGet = AggregateQuery.prototype._get;
  AggregateQuery.prototype._get = async function (this: unknown, ...args: unknown[]) {
    const out = await aggregateGet.apply(this, args);
    counts.reads += 1;
    return out;
  };
  const commit = WriteBatch.prototype._commit;
  WriteBatch.prototype._commit = async function (this: { _ops: unknown[] }, ...args: unknown[]) {
    const n = this._ops.length;
    const out = await commit.apply(this, args);
    counts.writes += n;
    return out;
  };
}

/** Runs `fn` and returns its result with the Firestore operations it made. Not for concurrent use. */
export async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; ops: OpCounts; ms: number }> {
  const before = { ...counts };
  const started = performance.now();
  const result = await fn();
  return { result, ops: { reads: counts.reads - before.reads, writes: counts.writes - before.writes }, ms: performance.now() - started };
}
