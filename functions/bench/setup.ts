import { randomUUID } from "node:crypto";
import { deleteApp, initializeApp } from "firebase-admin/app";
import { getFirestore, Timestamp, type Firestore } from "firebase-admin/firestore";
import { systemClock } from "../src/core/clock";
import { parseWorkerConfig, type WorkerConfig } from "../src/core/config";
import type { WorkerDeps } from "../src/core/deps";
import { createLogger } from "../src/core/logger";

/** Shared plumbing of the benchmarks: a fresh emulator project per measurement, quiet deps, stats. */
export function freshDb(label: string): { db: Firestore; projectId: string; dispose(): Promise<void> } {
  const projectId = `demo-bench-${label}-${randomUUID().slice(0, 6)}`;
  const app = initializeApp({ projectId }, projectId);
  return { db: getFirestore(app), projectId, dispose: () => disposeProject(projectId, app) };
}

/** Drops the project's data from the emulator (so a long run does not fill its heap) and the app's client. */
async function disposeProject(projectId: string, app: ReturnType<typeof initializeApp>): Promise<void> {
  await deleteApp(app);
  const host = process.env.FIRESTORE_EMULATOR_HOST;
  if (host) await fetch(`http://${host}/emulator/v1/projects/${projectId}/databases/(default)/documents`, { method: "DELETE" });
}

export function benchDeps(db: Firestore, config: Partial<WorkerConfig> = {}): WorkerDeps {
  return { db, clock: systemClock, logger: createLogger({ sink: () => undefined }), config: { ...parseWorkerConfig({}), ...config } };
}

export async function writeAll(db: Firestore, docs: [string, Record<string, unknown>][]): Promise<void> {
  const writer = db.bulkWriter();
  for (const [path, data] of docs) void writer.set(db.doc(path), data);
  await writer.close();
}

export const ts = (ms: number) => Timestamp.fromMillis(ms);
export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
