import { deleteApp, initializeApp } from "firebase-admin/app";
import type { Settings } from "firebase-admin/firestore";
import { WORKER_CALL_BOUNDS, workerFirestoreSettings } from "../src/core/firestoreSettings";
import { firestoreThrough, startDelayProxy } from "./delayProxy";
import { freshDb, log, round } from "./setup";

/**
 * What one dead connection costs: a Firestore client behind a proxy that black-holes its open
 * connection (what a dropped NAT mapping or a partition looks like), with the SDK's default
 * settings and with the workers' (core/firestoreSettings.ts, production values). Each call's time
 * to settle and its outcome. The default read is not run: it waits 300 s per attempt.
 */
export interface StallCase {
  settings: "SDK defaults" | "worker settings";
  call: "commit" | "getAll";
  seconds: number;
  outcome: string;
}

export async function stallBench(emulatorHostPort: string): Promise<{ keepalive: typeof WORKER_CALL_BOUNDS; cases: StallCase[] }> {
  const [host, port] = emulatorHostPort.split(":");
  log("stalls: calls on a black-holed connection (about a minute)");
  const cases = await Promise.all([
    once({ host, port: Number(port) }, "SDK defaults", {}, "commit"),
    once({ host, port: Number(port) }, "worker settings", workerFirestoreSettings(), "commit"),
    once({ host, port: Number(port) }, "worker settings", workerFirestoreSettings(), "getAll"),
  ]);
  for (const c of cases) log(`  ${c.settings}, ${c.call}: ${c.outcome} after ${c.seconds} s`);
  return { keepalive: WORKER_CALL_BOUNDS, cases };
}

async function once(
  target: { host: string; port: number },
  label: StallCase["settings"],
  settings: Settings,
  call: StallCase["call"],
): Promise<StallCase> {
  const proxy = await startDelayProxy(target, 0);
  const { projectId, dispose } = freshDb("stall");
  const app = initializeApp({ projectId }, `${projectId}-proxied`);
  const db = firestoreThrough(proxy, app, settings);
  await db.doc("tasks/a").set({ n: 1 });
  proxy.blackHoleOpenConnections();
  const started = performance.now();
  let outcome: string;
  try {
    await (call === "commit" ? db.doc("tasks/a").update({ n: 2 }) : db.getAll(db.doc("tasks/a")));
    outcome = `succeeded over a new connection (${proxy.stats().connections} opened in all)`;
  } catch (error) {
    outcome = `failed: ${String((error as Error).message).split(",")[0]}`;
  }
  const seconds = round((performance.now() - started) / 1000, 1);
  await deleteApp(app);
  await proxy.close();
  await dispose();
  return { settings: label, call, seconds, outcome };
}
