import { deleteApp, getApp, initializeApp, type App } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";
import { firestoreThrough, startDelayProxy, type DelayProxy } from "../../bench/delayProxy";
import { WORKER_CALL_BOUNDS, withWorkerSettings, workerFirestoreSettings } from "../../src/core/firestoreSettings";
import { createStandaloneDeps } from "../../src/runtime/standalone";
import { emulatorHost, uniqueProjectId } from "../harness/firestore";

/**
 * A worker's Firestore must not be held up by a connection that died silently. The real emulator
 * behind a fault proxy that black-holes the open connection: with the worker settings (bounds
 * scaled down to seconds) a commit, a getAll and a query still succeed, over a new connection.
 * With the SDK's defaults the same calls wait 60 s (commit) and 300 s per attempt (reads).
 */
let proxy: DelayProxy;
const apps: App[] = [];

beforeAll(async () => {
  const [host, port] = emulatorHost().split(":");
  proxy = await startDelayProxy({ host, port: Number(port) }, 0);
});
afterAll(async () => {
  await Promise.all(apps.map((app) => deleteApp(app)));
  await proxy.close();
});

const scaledDown = workerFirestoreSettings({ streamMs: 3_000, keepaliveTimeMs: 1_000, keepaliveTimeoutMs: 1_000 });

it.each([
  ["a commit", (db: Firestore) => db.doc("tasks/a").update({ n: 2 })],
  ["a getAll", (db: Firestore) => db.getAll(db.doc("tasks/a"))],
  ["a query", (db: Firestore) => db.collection("tasks").get()],
])("%s on a black-holed connection succeeds over a new one", async (_name, call) => {
  const projectId = uniqueProjectId("settings");
  const app = initializeApp({ projectId }, projectId);
  apps.push(app);
  const db = firestoreThrough(proxy, app, scaledDown);
  await db.doc("tasks/a").set({ n: 1 });
  const before = proxy.stats().connections;
  proxy.blackHoleOpenConnections();
  await call(db);
  expect(proxy.stats().connections).toBeGreaterThan(before);
  expect((await db.doc("tasks/a").get()).exists).toBe(true);
});

it("passes the bounds to gRPC and to the generated client", () => {
  const settings = workerFirestoreSettings();
  expect(settings["grpc.keepalive_time_ms"]).toBe(30_000);
  expect(settings["grpc.keepalive_timeout_ms"]).toBe(10_000);
  const methods = settings.clientConfig.interfaces["google.firestore.v1.Firestore"].methods;
  expect(Object.keys(methods).sort()).toEqual(["BatchGetDocuments", "RunAggregationQuery", "RunQuery"]);
  expect(methods.RunQuery.timeout_millis).toBe(30_000);
});

it("applies the settings once per client, and only before its first call", async () => {
  const projectId = uniqueProjectId("settings");
  const app = initializeApp({ projectId }, projectId);
  apps.push(app);
  const db = getFirestore(app);
  expect(withWorkerSettings(db)).toBe(db);
  expect(withWorkerSettings(db)).toBe(db); // the runtime may build its deps more than once
  await db.doc("tasks/a").get();
  const usedApp = initializeApp({ projectId }, `${projectId}-used`);
  apps.push(usedApp);
  const used = getFirestore(usedApp);
  await used.doc("tasks/a").get();
  expect(() => withWorkerSettings(used)).toThrow(/already been initialized/);
});

it("refuses a bound that is not a positive integer of ms", () => {
  expect(() => workerFirestoreSettings({ streamMs: 0, keepaliveTimeMs: 1, keepaliveTimeoutMs: 1 })).toThrow(
    "streamMs must be a positive integer",
  );
  expect(() => workerFirestoreSettings({ streamMs: 1, keepaliveTimeMs: 1.5, keepaliveTimeoutMs: 1 })).toThrow("keepaliveTimeMs");
});

it("is what a standalone worker's Firestore runs with", async () => {
  // The SDK keeps its settings in `_settings` (pinned by the lockfile); the runtime must have applied ours.
  const deps = await createStandaloneDeps(
    { entryPoint: "settings-test" },
    { FIRESTORE_EMULATOR_HOST: emulatorHost(), GCLOUD_PROJECT: uniqueProjectId("settings") },
    { quiet: true },
  );
  const applied = (deps.db as unknown as { _settings: Record<string, unknown> })._settings;
  expect(applied["grpc.keepalive_time_ms"]).toBe(WORKER_CALL_BOUNDS.keepaliveTimeMs);
  expect(applied["grpc.keepalive_timeout_ms"]).toBe(WORKER_CALL_BOUNDS.keepaliveTimeoutMs);
  await deleteApp(getApp());
});
