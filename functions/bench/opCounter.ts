/**
 * Counts what the Firestore SDK sends and what it would be billed, at the SDK's gRPC client, in
 * this process: every RPC attempt (retries included) by method with its time and status code,
 * and the billed operations the responses imply by Firestore's billing rules: 1 read per document
 * a lookup returns, found or missing; 1 read per document a query returns, at least 1 per query;
 * 1 read per aggregation (the emulator does not report the index entries it scanned); per
 * successful commit, 1 write per set/update/create and 1 delete per delete; BatchWrite per write
 * that succeeded. Benchmarks only: it patches a function of @grpc/grpc-js, never the product.
 *
 * Claims are recognised in the request: a write to a `mirrorQueue` doc that sets `claimedAt` (a
 * lease, or the `done` mark that carries a claim made in the commit). Claims and losses are counted
 * per task: a task this process tried to claim is lost when none of its claim writes landed (a
 * commit that failed its precondition because another worker changed the task first), whatever
 * else was in that commit and however often it was tried.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
import { appendFileSync } from "node:fs";
import { dirname } from "node:path";
import { ownCpuMs } from "./cpu";

const firestoreDir = dirname(require.resolve("@google-cloud/firestore/package.json"));
const gaxDir = dirname(require.resolve("google-gax/package.json", { paths: [firestoreDir] }));
const grpcDir = dirname(require.resolve("@grpc/grpc-js/package.json", { paths: [gaxDir] }));
const grpc = require(grpcDir) as typeof import("@grpc/grpc-js");
const interceptors = require(`${grpcDir}/build/src/client-interceptors`) as { getInterceptingCall: (...args: unknown[]) => unknown };
/* eslint-enable @typescript-eslint/no-require-imports */

/** An RPC slower than this is listed with its method and status: how stalls show. */
export const SLOW_RPC_MS = 5_000;

export interface OpCounts {
  /** Billed document reads, writes (set/update/create) and deletes. */
  reads: number;
  writes: number;
  deletes: number;
  /** RPC attempts issued, all methods. */
  rpcs: number;
  byMethod: Record<string, { calls: number; totalMs: number; maxMs: number; errors: Record<string, number> }>;
  /** Tasks this process tried to claim, and those of them none of whose claim writes landed (another worker changed the task first). */
  claims: number;
  claimsLost: number;
  /** Commits rejected by a precondition (FAILED_PRECONDITION, ABORTED, ALREADY_EXISTS): contention. */
  conflicts: number;
  slow: { method: string; ms: number; code: string; at: string }[];
  /** Writes and deletes by the id of the collection written to: what the per-collection write limits see. */
  writesByCollection: Record<string, number>;
  /** The documents written most often (at most 5 per process): what the per-document write rate sees. */
  hotDocs: Record<string, number>;
  /** When the first RPC counted started (ms since the epoch): when the process began its work. */
  firstRpcAt?: number;
  /** The process's CPU time (user + system) since its first RPC, ms: written by countingPreload. */
  cpuMs?: number;
}

export const emptyCounts = (): OpCounts => ({
  reads: 0,
  writes: 0,
  deletes: 0,
  rpcs: 0,
  byMethod: {},
  claims: 0,
  claimsLost: 0,
  conflicts: 0,
  slow: [],
  writesByCollection: {},
  hotDocs: {},
});

export const counts: OpCounts = emptyCounts();
let installed = false;

const CONFLICT_CODES = new Set([grpc.status.FAILED_PRECONDITION, grpc.status.ABORTED, grpc.status.ALREADY_EXISTS]);

type ProtoWrite = { update?: { name?: string; fields?: Record<string, unknown> }; delete?: string };

/** The id of the task a write claims, if it is a claim. */
const claimedTask = (w: ProtoWrite) =>
  w.update?.name?.includes("/documents/mirrorQueue/") && w.update.fields?.claimedAt ? w.update.name.split("/").pop() : undefined;
/** Per task: whether one of its claims landed. */
const claimed = new Map<string, boolean>();

function countClaims(writes: ProtoWrite[], landed: boolean): void {
  for (const id of writes.map(claimedTask)) {
    if (!id) continue;
    const before = claimed.get(id);
    if (before === undefined) {
      counts.claims++;
      counts.claimsLost++;
    }
    if (landed && !before) counts.claimsLost--;
    claimed.set(id, Boolean(before) || landed);
  }
}

const writesPerDoc = new Map<string, number>();

function countWrite(w: ProtoWrite): void {
  if (w.delete) counts.deletes++;
  else counts.writes++;
  const name = w.delete ?? w.update?.name ?? "";
  const path = name.split("/documents/")[1] ?? name;
  const collection = path.split("/").slice(-2)[0] ?? "?";
  counts.writesByCollection[collection] = (counts.writesByCollection[collection] ?? 0) + 1;
  writesPerDoc.set(path, (writesPerDoc.get(path) ?? 0) + 1);
}

const hottest = (): Record<string, number> => Object.fromEntries([...writesPerDoc].sort((a, b) => b[1] - a[1]).slice(0, 5));

/**
 * Reads are counted as the responses arrive, so that a caller whose promise resolved has its reads
 * counted even when the call's status (trailers) comes a moment later.
 */
function countResponse(method: string, response: Record<string, unknown>): boolean {
  const found =
    (method === "BatchGetDocuments" && Boolean(response.found || response.missing)) ||
    (method === "RunQuery" && Boolean(response.document));
  if (found) counts.reads++;
  return found;
}

/** Counts one finished RPC: its request, whether any document came back, and its status. */
function tally(
  method: string,
  request: { writes?: ProtoWrite[] } | undefined,
  responses: Record<string, unknown>[],
  anyDocument: boolean,
  code: number,
  ms: number,
): void {
  counts.rpcs++;
  const m = (counts.byMethod[method] ??= { calls: 0, totalMs: 0, maxMs: 0, errors: {} });
  m.calls++;
  m.totalMs += ms;
  m.maxMs = Math.max(m.maxMs, ms);
  const codeName = grpc.status[code] ?? String(code);
  if (code !== grpc.status.OK) m.errors[codeName] = (m.errors[codeName] ?? 0) + 1;
  if (ms >= SLOW_RPC_MS) counts.slow.push({ method, ms: Math.round(ms), code: codeName, at: new Date().toISOString() });
  const writes = request?.writes ?? [];
  switch (method) {
    case "RunQuery":
      if (code === grpc.status.OK && !anyDocument) counts.reads += 1; // a query that returns nothing costs 1 read
      break;
    case "RunAggregationQuery":
      if (code === grpc.status.OK) counts.reads += 1;
      break;
    case "Commit":
      countClaims(writes, code === grpc.status.OK);
      if (code === grpc.status.OK) {
        for (const w of writes) countWrite(w);
      } else if (CONFLICT_CODES.has(code)) {
        counts.conflicts++;
      }
      break;
    case "BatchWrite": {
      const statuses = (responses[0]?.status ?? []) as { code?: number }[];
      writes.forEach((w, i) => {
        const c = statuses[i]?.code ?? code;
        countClaims([w], c === grpc.status.OK);
        if (c === grpc.status.OK) countWrite(w);
        else if (CONFLICT_CODES.has(c)) counts.conflicts++;
      });
      break;
    }
  }
}

/** RPCs started and not yet finished: an empty query's read is booked only when its stream closes. */
let inFlight = 0;

/** Resolves once every RPC started so far has finished (its status arrived), or after `maxMs`. */
async function settled(maxMs = 5_000): Promise<void> {
  const deadline = performance.now() + maxMs;
  while (inFlight > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 1));
}

/**
 * With BENCH_RPC_TRACE=FILE, each finished RPC is appended to FILE as one line: pid, method, start
 * (ms since the epoch), duration ms, status, writes (Commit) or documents (BatchGetDocuments), and
 * whether it runs in a transaction (`tx`), starts one (`newtx`) or neither (`-`): to see where a
 * lost race spends its time (a lock wait, the SDK's retry).
 */
const TRACE_FILE = process.env.BENCH_RPC_TRACE;

function traceRpc(method: string, request: unknown, started: number, code: number): void {
  if (!TRACE_FILE) return;
  const r = (request ?? {}) as {
    writes?: unknown[];
    documents?: unknown[];
    transaction?: unknown;
    newTransaction?: unknown;
    options?: unknown;
  };
  const ms = performance.now() - started;
  const tx = r.transaction ? "tx" : r.newTransaction || r.options ? "newtx" : "-";
  const n = r.writes?.length ?? r.documents?.length ?? 0;
  appendFileSync(TRACE_FILE, `${process.pid} ${method} ${(Date.now() - ms).toFixed(0)} ${ms.toFixed(1)} ${grpc.status[code]} ${n} ${tx}\n`);
}

export function installOpCounter(): void {
  if (installed) return;
  installed = true;
  const original = interceptors.getInterceptingCall;
  interceptors.getInterceptingCall = function (this: unknown, ...args: unknown[]) {
    const inner = original.apply(this, args) as ConstructorParameters<typeof grpc.InterceptingCall>[0];
    const method = String((args[1] as { path: string }).path)
      .split("/")
      .pop()!;
    const started = performance.now();
    if (counts.firstRpcAt === undefined) {
      counts.firstRpcAt = Date.now();
      cpuAtFirstRpc = ownCpuMs();
    }
    inFlight++;
    let request: { writes?: ProtoWrite[] } | undefined;
    const responses: Record<string, unknown>[] = [];
    let anyDocument = false;
    return new grpc.InterceptingCall(inner, {
      start(metadata, _listener, next) {
        next(metadata, {
          onReceiveMessage(message, nextMessage) {
            if (method === "BatchWrite") responses.push(message);
            if (countResponse(method, message)) anyDocument = true;
            nextMessage(message);
          },
          onReceiveStatus(status, nextStatus) {
            tally(method, request, responses, anyDocument, status.code, performance.now() - started);
            traceRpc(method, request, started, status.code);
            inFlight--;
            nextStatus(status);
          },
        });
      },
      sendMessage(message, next) {
        request = message;
        next(message);
      },
    });
  };
}

/** `after - before`, for the counts of one measurement. */
export function diffCounts(after: OpCounts, before: OpCounts): OpCounts {
  const byMethod: OpCounts["byMethod"] = {};
  for (const [name, m] of Object.entries(after.byMethod)) {
    const b = before.byMethod[name] ?? { calls: 0, totalMs: 0, maxMs: 0, errors: {} };
    if (m.calls === b.calls) continue;
    const errors: Record<string, number> = {};
    for (const [code, n] of Object.entries(m.errors)) if (n - (b.errors[code] ?? 0)) errors[code] = n - (b.errors[code] ?? 0);
    byMethod[name] = { calls: m.calls - b.calls, totalMs: m.totalMs - b.totalMs, maxMs: m.maxMs, errors };
  }
  return {
    reads: after.reads - before.reads,
    writes: after.writes - before.writes,
    deletes: after.deletes - before.deletes,
    rpcs: after.rpcs - before.rpcs,
    byMethod,
    claims: after.claims - before.claims,
    claimsLost: after.claimsLost - before.claimsLost,
    conflicts: after.conflicts - before.conflicts,
    slow: after.slow.slice(before.slow.length),
    writesByCollection: subtract(after.writesByCollection, before.writesByCollection),
    hotDocs: subtract(after.hotDocs, before.hotDocs),
    firstRpcAt: after.firstRpcAt,
  };
}

function subtract(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(a)
      .map(([k, v]) => [k, v - (b[k] ?? 0)])
      .filter(([, v]) => v),
  );
}

function add(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Adds several processes' counts. */
export function sumCounts(all: OpCounts[]): OpCounts {
  return all.reduce((sum, c) => {
    const byMethod = { ...sum.byMethod };
    for (const [name, m] of Object.entries(c.byMethod)) {
      const s = byMethod[name] ?? { calls: 0, totalMs: 0, maxMs: 0, errors: {} };
      const errors = { ...s.errors };
      for (const [code, n] of Object.entries(m.errors)) errors[code] = (errors[code] ?? 0) + n;
      byMethod[name] = { calls: s.calls + m.calls, totalMs: s.totalMs + m.totalMs, maxMs: Math.max(s.maxMs, m.maxMs), errors };
    }
    return {
      reads: sum.reads + c.reads,
      writes: sum.writes + c.writes,
      deletes: sum.deletes + c.deletes,
      rpcs: sum.rpcs + c.rpcs,
      byMethod,
      claims: sum.claims + c.claims,
      claimsLost: sum.claimsLost + c.claimsLost,
      conflicts: sum.conflicts + c.conflicts,
      slow: [...sum.slow, ...c.slow],
      writesByCollection: add(sum.writesByCollection, c.writesByCollection ?? {}),
      hotDocs: add(sum.hotDocs, c.hotDocs ?? {}),
      firstRpcAt: Math.min(sum.firstRpcAt ?? Infinity, c.firstRpcAt ?? Infinity),
      cpuMs: (sum.cpuMs ?? 0) + (c.cpuMs ?? 0),
    };
  }, emptyCounts());
}

let cpuAtFirstRpc = 0;

/** This process's CPU time since its first counted RPC (its start-up left out), ms. */
export const cpuSinceFirstRpcMs = (): number => ownCpuMs() - cpuAtFirstRpc;

const snapshot = (): OpCounts => structuredClone({ ...counts, hotDocs: hottest() });

/** Forgets what was counted so far: a process that prepares before it measures calls it in between. */
export function resetCounts(): void {
  Object.assign(counts, emptyCounts());
  delete counts.firstRpcAt;
  writesPerDoc.clear();
  claimed.clear();
}

/** Runs `fn` and returns its result with the Firestore operations it made. Not for concurrent use. */
export async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; ops: OpCounts; ms: number }> {
  await settled(); // what came before is booked before the window opens
  const before = snapshot();
  const started = performance.now();
  const result = await fn();
  const ms = performance.now() - started;
  // A caller's promise can resolve before the status of its last RPC arrives; wait for it, so the
  // window holds every operation `fn` made.
  await settled();
  return { result, ops: diffCounts(snapshot(), before), ms };
}

export { snapshot as snapshotCounts };
