import { Timestamp } from "firebase-admin/firestore";

/** The pure parts of canvas snapshots: when one is due, how big a doc is, how elements split, how ops apply. */

export type Element = Record<string, unknown>;
export type Elements = Record<string, Element>;

export interface ProjectCounters {
  opsSinceSnapshot?: unknown;
  lastSnapshotAt?: unknown;
}

/** Due when there are ops since the last snapshot and either `maxOps` of them, or the last snapshot (or none) is `maxHours` old. */
export function needsSnapshot(project: ProjectCounters, nowMs: number, maxOps: number, maxHours: number): boolean {
  const ops = typeof project.opsSinceSnapshot === "number" ? project.opsSinceSnapshot : 0;
  if (ops <= 0) return false;
  if (ops >= maxOps) return true;
  if (!(project.lastSnapshotAt instanceof Timestamp)) return true;
  return nowMs - project.lastSnapshotAt.toMillis() >= maxHours * 3600_000;
}

/** Snapshot ids sort by the op index they hold, and the same state always gets the same id. */
export function snapshotIdFor(opIndex: number): string {
  return `op-${String(opIndex + 1).padStart(12, "0")}`;
}

/**
 * Storage size of a value by Firestore's documented rules (strings: UTF-8 bytes + 1; numbers,
 * timestamps: 8; booleans, null: 1; maps: field names + 1 and values), to split snapshots safely
 * below the 1 MiB document limit.
 */
export function firestoreSize(value: unknown): number {
  if (value === null || value === undefined || typeof value === "boolean") return 1;
  if (typeof value === "string") return Buffer.byteLength(value, "utf8") + 1;
  if (typeof value === "number" || value instanceof Timestamp || value instanceof Date) return 8;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return value.length;
  if (Array.isArray(value)) return value.reduce((sum: number, v) => sum + firestoreSize(v), 0);
  if (typeof value === "object") {
    const path = (value as { path?: unknown }).path;
    if (typeof path === "string" && "firestore" in (value as object)) return Buffer.byteLength(path) + 1; // a DocumentReference
    let sum = 0;
    for (const [k, v] of Object.entries(value)) sum += Buffer.byteLength(k, "utf8") + 1 + firestoreSize(v);
    return sum;
  }
  return 8;
}

/** Inline when the elements fit one doc with room to spare; else parts of at most `partBytes` each. */
export const MAX_INLINE_BYTES = 900_000;
export const PART_BYTES = 900_000;

export function splitElements(elements: Elements, partBytes = PART_BYTES): Elements[] {
  const parts: Elements[] = [];
  let current: Elements = {};
  let size = 0;
  for (const [id, element] of Object.entries(elements)) {
    const entry = Buffer.byteLength(id) + 1 + firestoreSize(element);
    if (entry > partBytes) throw new Error(`element ${id} alone is ${entry} bytes, more than a snapshot part holds (${partBytes})`);
    if (size + entry > partBytes && size > 0) {
      parts.push(current);
      current = {};
      size = 0;
    }
    current[id] = element;
    size += entry;
  }
  if (size > 0 || parts.length === 0) parts.push(current);
  return parts;
}

export interface Op {
  index: number;
  type: "create" | "update" | "delete";
  elementId: string;
  data?: Element;
}

/** Applies ops in index order: create sets the element, update merges its changed fields, delete removes it. */
export function applyOps(base: Elements, ops: Op[]): Elements {
  const elements: Elements = { ...base };
  for (const op of [...ops].sort((a, b) => a.index - b.index)) {
    if (op.type === "delete") delete elements[op.elementId];
    else if (op.type === "create") elements[op.elementId] = { ...(op.data ?? {}) };
    else elements[op.elementId] = { ...(elements[op.elementId] ?? {}), ...(op.data ?? {}) };
  }
  return elements;
}
