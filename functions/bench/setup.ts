import { randomUUID } from "node:crypto";
import { initializeApp } from "firebase-admin/app";
import { getFirestore, Timestamp, type Firestore } from "firebase-admin/firestore";
import { systemClock } from "../src/core/clock";
import { parseWorkerConfig, type WorkerConfig } from "../src/core/config";
import type { WorkerDeps } from "../src/core/deps";
import { createLogger } from "../src/core/logger";

/** Shared plumbing of the benchmarks: a fresh emulator project per measurement, quiet deps, stats. */
export function freshDb(label: string): { db: Firestore; projectId: string } {
  const projectId = `demo-bench-${label}-${randomUUID().slice(0, 6)}`;
  return { db: getFirestore(initializeApp({ projectId }, projectId)), projectId };
}

export function benchDeps(db: Firestore, config: Partial<WorkerConfig> = {}): WorkerDeps {
  return { db, clock: systemClock, logger: createLogger({ sink: () => undefined }), config: { ...parseWorkerConfig({}), ...config } };
}

export async function writeAll(db: Firestore, docs: [string, Record<string, unknown>][]): Promise<void> {
  const writer = db.bulkWriter();
  for (const [path, data] of docs) void writer.set(db.doc(path), data);
  await writer.close();
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const ts = (ms: number) => Timestamp.fromMillis(ms);
export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
