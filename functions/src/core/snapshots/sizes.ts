import { Timestamp } from "firebase-admin/firestore";
import { PermanentError } from "../errors";
import type { Elements } from "./ops";

/** What fits in a Firestore document: sizes by Firestore's rules, nesting depth, and how a snapshot's elements split into parts. */

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

/**
 * Firestore nests maps and arrays at most 20 deep: in a document, a value at field path
 * `a.b.c` has depth 2 (the Admin SDK refuses a path of more than 21 segments). Array
 * elements count as a level.
 */
export const MAX_NESTING_DEPTH = 20;

/** The depth of the deepest value inside the fields of `fields` (a document's or a map's). */
export function nestingDepth(fields: Record<string, unknown>): number {
  let deepest = 0;
  const walk = (value: unknown, depth: number) => {
    deepest = Math.max(deepest, depth);
    if (Array.isArray(value)) for (const v of value) walk(v, depth + 1);
    else if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
      for (const v of Object.values(value)) walk(v, depth + 1);
    }
  };
  for (const v of Object.values(fields)) walk(v, 0);
  return deepest;
}

/** Inline when the elements fit one doc with room to spare; else parts of at most `partBytes` each. */
export const MAX_INLINE_BYTES = 900_000;
export const PART_BYTES = 900_000;
/** A snapshot (or part) holds each element at `elements.{elementId}`: two levels deeper than in its own doc. */
const SNAPSHOT_WRAP_DEPTH = 2;

/**
 * Every element fits a snapshot: not nested too deep once wrapped, not larger than a part.
 * Throws a PermanentError naming the first element that does not (field `elements/{id}`).
 */
export function checkSnapshottable(elements: Elements, partBytes = PART_BYTES): void {
  for (const [id, element] of Object.entries(elements)) {
    const depth = nestingDepth(element) + SNAPSHOT_WRAP_DEPTH;
    if (depth > MAX_NESTING_DEPTH) {
      throw new PermanentError(
        `element ${id} is nested ${depth - SNAPSHOT_WRAP_DEPTH} deep: inside a snapshot it would be ${depth}, more than Firestore's ${MAX_NESTING_DEPTH}`,
        `elements/${id}`,
      );
    }
    const bytes = Buffer.byteLength(id) + 1 + firestoreSize(element);
    if (bytes > partBytes)
      throw new PermanentError(`element ${id} alone is ${bytes} bytes, more than a snapshot part holds (${partBytes})`, `elements/${id}`);
  }
}

/** Splits elements into parts of at most `partBytes` each; refuses elements that do not fit (checkSnapshottable). */
export function splitElements(elements: Elements, partBytes = PART_BYTES): Elements[] {
  checkSnapshottable(elements, partBytes);
  const parts: Elements[] = [];
  let current: Elements = {};
  let size = 0;
  for (const [id, element] of Object.entries(elements)) {
    const entry = Buffer.byteLength(id) + 1 + firestoreSize(element);
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
