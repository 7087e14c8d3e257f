import { Timestamp } from "firebase-admin/firestore";
import { describeValue } from "./describe";
import { AESTHETIC_SCORE_RANGE, isAestheticScore } from "../signupCache/aestheticScore";

/**
 * The public-field rule: what of a history item may appear in its public mirror doc.
 *
 * An explicit allow-list, so that a field the app adds to history items later (a private note, a
 * moderation flag, a seed) is never published by accident: to publish a new field, add it here.
 * Each public field has a type; a value of another type is not published. Inside `images[]` and
 * `videos[]`, only the media item fields below are kept.
 *
 * Everything else on a mirror doc is the workers' own: `uid`, `historyId`, `createdBy` (from
 * `users/{uid}`), `isPublic: true`, `isDeleted: false` and the ordering and timing marks. Neither
 * the source item nor an update can set those.
 */
export type Doc = Record<string, unknown>;

type Kind = "string" | "media" | "score" | "timestamp";

export const PUBLIC_FIELDS: Readonly<Record<string, Kind>> = {
  prompt: "string",
  model: "string",
  generationType: "string",
  images: "media",
  videos: "media",
  aestheticScore: "score",
  createdAt: "timestamp",
  updatedAt: "timestamp",
};

/** Fields of one image or video; the optimization fields may be null (cleared explicitly). */
export const MEDIA_ITEM_FIELDS = ["id", "url", "storagePath", "thumbnailUrl", "avifUrl"] as const;
const NULLABLE_MEDIA_FIELDS = new Set(["thumbnailUrl", "avifUrl"]);

/** The publishing flags: read from the source to decide, written by the workers as true/false. */
export const PUBLISHING_FLAGS = ["isPublic", "isDeleted"] as const;

/** Mirror doc fields only the workers write. */
export const WORKER_FIELDS = ["uid", "historyId", "createdBy", "mirrorTaskId", "mirrorTaskCreatedAt", "mirroredAt"] as const;

export interface FieldIssue {
  path: string;
  message: string;
}

const isMap = (v: unknown): v is Doc => typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Timestamp);

/**
 * A Timestamp, or one that went through JSON on its way (`{_seconds, _nanoseconds}` as the Admin
 * SDK serializes it, or `{seconds, nanoseconds}`), turned back into a Timestamp.
 */
export function asTimestamp(value: unknown): Timestamp | undefined {
  if (value instanceof Timestamp) return value;
  if (!isMap(value) || Object.keys(value).length !== 2) return undefined;
  const seconds = value._seconds ?? value.seconds;
  const nanos = value._nanoseconds ?? value.nanoseconds;
  if (!Number.isSafeInteger(seconds) || !Number.isInteger(nanos)) return undefined;
  try {
    return new Timestamp(seconds as number, nanos as number);
  } catch {
    return undefined; // out of Firestore's range
  }
}

function mediaItem(item: unknown, path: string, issues: FieldIssue[]): Doc | undefined {
  if (!isMap(item)) {
    issues.push({ path, message: `must be a map, got ${describeValue(item)}` });
    return undefined;
  }
  const out: Doc = {};
  for (const field of MEDIA_ITEM_FIELDS) {
    if (!(field in item)) continue;
    const v = item[field];
    if (typeof v === "string" || (v === null && NULLABLE_MEDIA_FIELDS.has(field))) out[field] = v;
    else issues.push({ path: `${path}.${field}`, message: `must be a string, got ${describeValue(v)}` });
  }
  return out;
}

/** The value a public field takes in the mirror, or undefined (with an issue) when its type is wrong. */
function publicValue(kind: Kind, value: unknown, path: string, issues: FieldIssue[]): unknown {
  const wrong = (expected: string) => {
    issues.push({ path, message: `must be ${expected}, got ${describeValue(value)}` });
    return undefined;
  };
  switch (kind) {
    case "string":
      return typeof value === "string" ? value : wrong("a string");
    case "score":
      return isAestheticScore(value) ? value : wrong(`a number from ${AESTHETIC_SCORE_RANGE.min} to ${AESTHETIC_SCORE_RANGE.max}`);
    case "timestamp":
      return asTimestamp(value) ?? wrong("a Firestore Timestamp");
    case "media":
      if (!Array.isArray(value)) return wrong("an array");
      return value.map((item, i) => mediaItem(item, `${path}[${i}]`, issues)).filter((item) => item !== undefined);
  }
}

/**
 * The public projection of a history item: its public fields of the right type, nothing else.
 * Lenient, because the item is the user's own data: a field of the wrong type is left out and
 * reported in `dropped`, and the rest is published.
 */
export function publicProjection(source: Doc): { fields: Doc; dropped: FieldIssue[] } {
  const fields: Doc = {};
  const dropped: FieldIssue[] = [];
  for (const [name, kind] of Object.entries(PUBLIC_FIELDS)) {
    if (!(name in source)) continue;
    const value = publicValue(kind, source[name], name, dropped);
    if (value !== undefined) fields[name] = value;
  }
  return { fields, dropped };
}

/** A validated `update` payload: public fields to set or clear, and whether it unpublishes the item. */
export interface PublicUpdates {
  set: Doc;
  clear: string[];
  unpublish: boolean;
  /** Fields of the payload that are not public; never written. */
  ignored: string[];
}

/**
 * Strict, because the payload is the app's instruction: a workers' field, a publishing flag that is
 * not a boolean, or a public field of the wrong type makes the whole task invalid (issues name the
 * field). `null` clears a public field. Fields that are not public are ignored, never published.
 */
export function parsePublicUpdates(updates: Doc): { ok: true; value: PublicUpdates } | { ok: false; issues: FieldIssue[] } {
  const issues: FieldIssue[] = [];
  const value: PublicUpdates = { set: {}, clear: [], unpublish: false, ignored: [] };
  for (const [name, v] of Object.entries(updates)) {
    if ((WORKER_FIELDS as readonly string[]).includes(name)) {
      issues.push({ path: name, message: `is set by the workers; an update may not change it` });
    } else if ((PUBLISHING_FLAGS as readonly string[]).includes(name)) {
      if (typeof v !== "boolean") issues.push({ path: name, message: `must be a boolean, got ${describeValue(v)}` });
      else if ((name === "isPublic" && !v) || (name === "isDeleted" && v)) value.unpublish = true;
    } else if (name in PUBLIC_FIELDS) {
      if (v === null) value.clear.push(name);
      else {
        const clean = publicValue(PUBLIC_FIELDS[name], v, name, issues);
        if (clean !== undefined) value.set[name] = clean;
      }
    } else {
      value.ignored.push(name);
    }
  }
  return issues.length ? { ok: false, issues } : { ok: true, value };
}

/** The fields of users/{uid} that `createdBy` takes; nothing else of a profile is read into the mirror. */
export const PROFILE_FIELDS = ["username", "displayName", "photoURL"] as const;

/** users/{uid} as the mirror's `createdBy`: the profile only its owner writes, strings or null. */
export function createdByFrom(uid: string, user: Doc | undefined): Doc {
  return { uid, ...Object.fromEntries(PROFILE_FIELDS.map((name) => [name, typeof user?.[name] === "string" ? user[name] : null])) };
}

/** Public and not deleted, with the flags as booleans: anything else (missing, "true", 1) is not public. */
export function isPublishable(item: Doc | undefined): boolean {
  return item !== undefined && item.isPublic === true && (item.isDeleted === false || item.isDeleted === undefined);
}
