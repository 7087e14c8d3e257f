import type { Firestore, Settings } from "firebase-admin/firestore";
import type { GrpcName } from "./errors";

/**
 * Firestore client settings for the workers: how long one dead connection may hold them up.
 *
 * With the SDK's defaults an RPC on a connection that died silently (a dropped NAT or
 * load-balancer mapping, a partition, a peer that froze) waits for its deadline: 60 s for a
 * commit, 300 s per attempt for a query or a batched read, whose retries then go down the same
 * dead connection, because gRPC without keepalive never notices it. A standalone worker holds its
 * pool's slots and a deployed function its instance meanwhile, and the task's 60 s lease runs out.
 * Measured against the emulator behind a proxy that black-holes the open connection
 * (docs/BENCHMARKS.md): a commit failed after 60 s, a getAll after 87 s; with these settings both
 * succeeded within seconds over a new connection.
 *
 * - Keepalive: while calls are in flight, gRPC pings every `keepaliveTimeMs` and closes the
 *   connection when a ping is not answered within `keepaliveTimeoutMs`; its calls fail
 *   `UNAVAILABLE`, which the SDK retries (commits included) on a new connection. So a dead
 *   connection costs at most about `keepaliveTimeMs + keepaliveTimeoutMs`. No pings while idle,
 *   so an idle Cloud Functions instance (its CPU throttled between events) never trips it; a
 *   server that finds the pings too frequent answers GOAWAY and gRPC halves their rate.
 * - Per-attempt deadline of the streaming reads (queries, getAll, aggregations): `streamMs`
 *   instead of 300 s; the workers' reads are small (a few documents, at most a few hundred).
 *   Commits keep the SDK's 60 s: it passes its own retry settings with every commit, which
 *   override the client's, so keepalive is what bounds a commit on a dead connection.
 *
 * Use `withWorkerSettings(getFirestore(app))` where a worker's Firestore is created, before its
 * first call (the SDK takes settings once, before any other call; firebase-admin's
 * `initializeFirestore` passes only `preferRest` on, so it cannot carry these).
 */
export interface WorkerCallBounds {
  streamMs: number;
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
}

export const WORKER_CALL_BOUNDS: WorkerCallBounds = {
  streamMs: 30_000,
  keepaliveTimeMs: 30_000,
  keepaliveTimeoutMs: 10_000,
};

/** The SDK's own retry codes for reads (firestore_client_config.json); only the time limits change. */
const READ_RETRY_CODES: GrpcName[] = ["DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL", "UNAVAILABLE"];
const STREAMING_READS = ["BatchGetDocuments", "RunQuery", "RunAggregationQuery"];

export function workerFirestoreSettings(bounds: WorkerCallBounds = WORKER_CALL_BOUNDS): Settings {
  for (const [name, value] of Object.entries(bounds)) {
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer of ms, got ${value}`);
  }
  const methods = Object.fromEntries(
    STREAMING_READS.map((m) => [m, { timeout_millis: bounds.streamMs, retry_codes_name: "reads", retry_params_name: "reads" }]),
  );
  return {
    // Passed through to the SDK's generated client (gax): per-method call settings.
    clientConfig: {
      interfaces: {
        "google.firestore.v1.Firestore": {
          retry_codes: { reads: READ_RETRY_CODES },
          retry_params: {
            reads: {
              initial_retry_delay_millis: 100,
              retry_delay_multiplier: 1.3,
              max_retry_delay_millis: 5_000,
              initial_rpc_timeout_millis: bounds.streamMs,
              rpc_timeout_multiplier: 1,
              max_rpc_timeout_millis: bounds.streamMs,
              total_timeout_millis: 2 * bounds.streamMs,
            },
          },
          methods,
        },
      },
    },
    // Passed through to gRPC's channel.
    "grpc.keepalive_time_ms": bounds.keepaliveTimeMs,
    "grpc.keepalive_timeout_ms": bounds.keepaliveTimeoutMs,
  };
}

const configured = new WeakSet<Firestore>();

/**
 * Applies the worker settings to `db` once (a second call with the same instance changes nothing)
 * and returns it. Throws the SDK's error if `db` has already made a call: settings must come first.
 */
export function withWorkerSettings(db: Firestore, bounds: WorkerCallBounds = WORKER_CALL_BOUNDS): Firestore {
  if (configured.has(db)) return db;
  db.settings(workerFirestoreSettings(bounds));
  configured.add(db);
  return db;
}
