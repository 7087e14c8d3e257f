import { Timestamp } from "firebase-admin/firestore";

/** A short, safe rendering of a value read from Firestore, for error messages that name what was wrong. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "number") return Number.isNaN(value) ? "NaN" : String(value);
  if (typeof value === "string") return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === "boolean") return String(value);
  if (value instanceof Timestamp) return `Timestamp ${value.toDate().toISOString()}`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return `a ${typeof value === "object" ? "map" : typeof value}`;
}
