import { DocumentReference, GeoPoint, Timestamp } from "firebase-admin/firestore";

/**
 * Firestore's storage size of a document, by its published rules, so that a write Firestore would
 * refuse for size is refused first with an error that names the document and its largest fields.
 * Source: https://firebase.google.com/docs/firestore/storage-size
 */
export const MAX_DOC_BYTES = 1_048_576;

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");

/** Bytes of a value: strings UTF-8 + 1, numbers and timestamps 8, booleans and null 1, maps by their fields. */
export function valueSize(value: unknown): number {
  if (value === null || value === undefined || typeof value === "boolean") return 1;
  if (typeof value === "string") return utf8(value) + 1;
  if (typeof value === "number" || value instanceof Timestamp) return 8;
  if (value instanceof GeoPoint) return 16;
  if (value instanceof Uint8Array) return value.length;
  if (value instanceof DocumentReference) return pathSize(value.path);
  if (Array.isArray(value)) return value.reduce((sum: number, v) => sum + valueSize(v), 0);
  if (typeof value === "object") return fieldsSize(value as Record<string, unknown>);
  return 8;
}

function fieldsSize(fields: Record<string, unknown>): number {
  let sum = 0;
  for (const [name, v] of Object.entries(fields)) sum += utf8(name) + 1 + valueSize(v);
  return sum;
}

function pathSize(path: string): number {
  return path.split("/").reduce((sum, segment) => sum + utf8(segment) + 1, 16);
}

/** Bytes of a whole document at `path` holding `fields`. */
export function docSize(path: string, fields: Record<string, unknown>): number {
  return pathSize(path) + 32 + fieldsSize(fields);
}

/** The `count` largest top-level fields, as "name (N bytes)", for error messages. */
export function largestFields(fields: Record<string, unknown>, count = 3): string {
  return Object.entries(fields)
    .map(([name, v]) => [name, utf8(name) + 1 + valueSize(v)] as const)
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, bytes]) => `${name} (${bytes.toLocaleString("en-US")} bytes)`)
    .join(", ");
}
