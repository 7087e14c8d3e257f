import { randomUUID } from "node:crypto";
import { deleteApp, initializeApp, type App } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";

/**
 * Each test file gets its own emulator project id, so files running in parallel never see each
 * other's documents, and `clear()` empties just that project through the emulator's REST API.
 */
export interface TestFirestore {
  projectId: string;
  db: Firestore;
  clear(): Promise<void>;
  close(): Promise<void>;
}

export function emulatorHost(): string {
  const host = process.env.FIRESTORE_EMULATOR_HOST;
  if (!host) throw new Error("FIRESTORE_EMULATOR_HOST is not set: run the tests through `npm test` (jest globalSetup starts the emulator)");
  return host;
}

export function uniqueProjectId(label = "test"): string {
  const slug = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .slice(0, 12);
  return `demo-${slug}-${randomUUID().slice(0, 8)}`;
}

export async function clearProject(projectId: string): Promise<void> {
  const res = await fetch(`http://${emulatorHost()}/emulator/v1/projects/${projectId}/databases/(default)/documents`, {
    method: "DELETE",
  });
  if (!res.ok) throw new Error(`clearing emulator project ${projectId} failed: HTTP ${res.status}`);
}

export function createTestFirestore(label?: string): TestFirestore {
  emulatorHost();
  const projectId = uniqueProjectId(label);
  const app: App = initializeApp({ projectId }, projectId);
  const db = getFirestore(app);
  return {
    projectId,
    db,
    clear: () => clearProject(projectId),
    close: async () => {
      await clearProject(projectId).catch(() => undefined);
      await deleteApp(app);
    },
  };
}

/** Polls `read` until `accept` holds, failing with the last value after `timeoutMs`. */
export async function eventually<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 20_000,
  label = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await read();
  while (!accept(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await read();
  }
  return last;
}

/**
 * Polls `read` until `accept` holds, for work whose length grows with its size: it fails only when
 * the value has not changed for `stallMs` (nothing moved on), not after a fixed total, so a busy
 * machine that works slowly still passes and a stuck one still fails.
 */
export async function eventuallyWhileProgressing<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  stallMs: number,
  label = "condition",
): Promise<T> {
  let last: T = await read();
  let lastSeen = JSON.stringify(last);
  let deadline = Date.now() + stallMs;
  while (!accept(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${label}: nothing changed for ${stallMs} ms; last value: ${lastSeen}`);
    await new Promise((r) => setTimeout(r, 200));
    last = await read();
    const seen = JSON.stringify(last);
    if (seen !== lastSeen) deadline = Date.now() + stallMs;
    lastSeen = seen;
  }
  return last;
}
