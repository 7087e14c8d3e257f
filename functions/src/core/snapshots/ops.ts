import { nestingDepth, MAX_NESTING_DEPTH } from "./sizes";

/**
 * The op definition (README "What an op is"). An op records one change the app applied to
 * `elements/{elementId}` in the same transaction or batch:
 *  - `create`: `data` (a map) is the whole element, written with `set()`: it replaces any element
 *    with that id (a re-create). Its keys are field names, taken literally.
 *  - `update`: `data` (a non-empty map) is the argument of Firestore's `update()` on an element
 *    that exists: each key is a field path, dot-separated (`"style.color"` is field `color` of
 *    map `style`); each value replaces the field at that path whole (a map value is not merged);
 *    missing or non-map intermediate fields become maps; no path may be a prefix of another.
 *  - `delete`: no `data`; removes the element (a missing element stays missing).
 * Values are stored values (no FieldValue sentinels), so an update cannot remove a field: the app
 * sends a `create` with the whole new element instead.
 * Anything else (another type, a path or field name Firestore refuses, an update of a missing
 * element) cannot have come from that write path; replaying it would guess, so it is refused.
 * firestore.rules enforce the definition for clients (a client's update has top-level keys only).
 */
export type Element = Record<string, unknown>;
export type Elements = Record<string, Element>;

export type Op =
  | { index: number; type: "create"; elementId: string; data: Element }
  | { index: number; type: "update"; elementId: string; data: Element }
  | { index: number; type: "delete"; elementId: string };

/** A value, or why Firestore would have refused the write that produced it. */
export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

export type Replay = { ok: true; opIndex: number; elements: Elements } | { ok: false; reason: string };

/** A plain map as Firestore returns one (Timestamps, references, bytes and arrays are not maps). */
export function isMap(value: unknown): value is Element {
  return typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

const RESERVED = /^__.*__$/;
const PATH_FORBIDDEN = /[~*/[\]]/;
const SIMPLE_SEGMENT = /^[a-zA-Z_][a-zA-Z_0-9]*$/;
/** Firestore refuses field paths of 1,500 bytes and more (measured in their quoted form). */
const MAX_PATH_BYTES = 1500;

/** A document id Firestore accepts: not empty, no `/`, not `.` or `..`, not `__x__`, under 1,500 bytes. */
export function isDocumentId(id: unknown): id is string {
  return (
    typeof id === "string" &&
    id.length > 0 &&
    !id.includes("/") &&
    id !== "." &&
    id !== ".." &&
    !RESERVED.test(id) &&
    Buffer.byteLength(id) <= 1500
  );
}

function quotedBytes(segment: string): number {
  if (SIMPLE_SEGMENT.test(segment)) return Buffer.byteLength(segment);
  return Buffer.byteLength(segment.replace(/[`\\]/g, "\\$&")) + 2;
}

/** The segments of an `update()` key, or why Firestore would refuse it. */
export function parseFieldPath(path: string): Checked<string[]> {
  const segments = path.split(".");
  if (segments.some((s) => s === "")) return { ok: false, error: `field path "${path}" has an empty segment` };
  const bad = segments.find((s) => PATH_FORBIDDEN.test(s) || RESERVED.test(s));
  if (bad !== undefined) return { ok: false, error: `field path "${path}" has a segment Firestore refuses ("${bad}")` };
  const bytes = segments.reduce((sum, s) => sum + quotedBytes(s), segments.length - 1);
  if (bytes >= MAX_PATH_BYTES)
    return { ok: false, error: `field path "${path.slice(0, 40)}..." is ${bytes} bytes, Firestore's limit is below ${MAX_PATH_BYTES}` };
  return { ok: true, value: segments };
}

/** The first field name in a stored value that Firestore refuses (empty or `__x__`), with its path. */
function invalidFieldName(value: unknown, path = ""): string | undefined {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const bad = invalidFieldName(v, `${path}[${i}]`);
      if (bad) return bad;
    }
  } else if (isMap(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (k === "" || RESERVED.test(k)) return `${path}${path ? "." : ""}"${k}"`;
      const bad = invalidFieldName(v, `${path}${path ? "." : ""}${k}`);
      if (bad) return bad;
    }
  }
  return undefined;
}

/** Validates one op doc against the definition; the error names the field. */
export function parseOp(raw: unknown): Checked<Op> {
  const fail = (error: string): Checked<Op> => ({ ok: false, error });
  if (!isMap(raw)) return fail("op is not a map");
  const { index, type, elementId, data } = raw;
  if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 0) return fail("index must be an integer >= 0");
  if (!isDocumentId(elementId)) return fail("elementId must be a valid document id");
  if (type === "delete")
    return data === undefined ? { ok: true, value: { index, type, elementId } } : fail("data must be absent on a delete");
  if (type !== "create" && type !== "update") return fail(`type must be "create", "update" or "delete", not ${JSON.stringify(type)}`);
  if (!isMap(data)) return fail(`data must be a map on ${type === "create" ? "a create" : "an update"}`);
  if (type === "update" && Object.keys(data).length === 0) return fail("data of an update must change at least one field");
  // A create's keys are field names; an update's keys are paths (checked when applied), its values hold field names.
  const badName =
    type === "create"
      ? invalidFieldName(data)
      : Object.values(data)
          .map((v) => invalidFieldName(v))
          .find(Boolean);
  if (badName) return fail(`data has a field name Firestore refuses: ${badName}`);
  return { ok: true, value: { index, type, elementId, data } };
}

/** `update()` of `element` with `data`: the new element, or why Firestore would have refused the update. */
export function applyUpdate(element: Element, data: Element): Checked<Element> {
  const paths: string[][] = [];
  for (const key of Object.keys(data)) {
    const segments = parseFieldPath(key);
    if (!segments.ok) return segments;
    paths.push(segments.value);
  }
  const key = (segments: string[]) => JSON.stringify(segments);
  const full = new Set(paths.map(key));
  for (const segments of paths) {
    for (let n = 1; n < segments.length; n++) {
      if (full.has(key(segments.slice(0, n))))
        return { ok: false, error: `data sets field ${segments.slice(0, n).join(".")} and a field inside it` };
    }
  }
  let result = element;
  for (const [i, key] of Object.keys(data).entries()) result = setAt(result, paths[i], data[key]);
  return { ok: true, value: result };
}

/** Copy-on-write set: maps along the path are copied, nothing the caller holds is mutated. */
function setAt(map: Element, [head, ...rest]: string[], value: unknown): Element {
  if (rest.length === 0) return { ...map, [head]: value };
  const child = map[head];
  return { ...map, [head]: setAt(isMap(child) ? child : {}, rest, value) };
}

/** One op applied to a state: the new state, or why the op cannot have been applied that way. */
export function applyOp(elements: Elements, op: Op): Checked<Elements> {
  if (op.type === "delete") {
    const { [op.elementId]: _gone, ...rest } = elements;
    return { ok: true, value: rest };
  }
  let element: Element = op.data;
  if (op.type === "update") {
    const current = elements[op.elementId];
    if (!current) return { ok: false, error: `update of element ${op.elementId}, which does not exist` };
    const updated = applyUpdate(current, op.data);
    if (!updated.ok) return updated;
    element = updated.value;
  }
  if (nestingDepth(element) > MAX_NESTING_DEPTH)
    return { ok: false, error: `element ${op.elementId} would be nested deeper than Firestore allows` };
  return { ok: true, value: { ...elements, [op.elementId]: element } };
}

/**
 * Replays op docs (in index order) on the state after op `afterIndex`. Refuses a gap in the
 * indexes and any op outside the definition: the caller then reads the elements instead.
 */
export function replayOps(base: Elements, afterIndex: number, rawOps: { id: string; data: unknown }[]): Replay {
  let elements = base;
  let expected = afterIndex + 1;
  for (const raw of rawOps) {
    const parsed = parseOp(raw.data);
    if (!parsed.ok) return { ok: false, reason: `op ${raw.id}: ${parsed.error}` };
    const op = parsed.value;
    if (op.index !== expected) return { ok: false, reason: `op ${raw.id} has index ${op.index}, expected ${expected} (a gap in the ops)` };
    const next = applyOp(elements, op);
    if (!next.ok) return { ok: false, reason: `op ${raw.id}: ${next.error}` };
    elements = next.value;
    expected++;
  }
  return { ok: true, opIndex: expected - 1, elements };
}

/** Ops the caller built itself, applied in index order; throws on one the definition refuses. */
export function applyOps(base: Elements, ops: Op[]): Elements {
  let elements = base;
  for (const op of [...ops].sort((a, b) => a.index - b.index)) {
    const next = applyOp(elements, op);
    if (!next.ok) throw new Error(`op ${op.index}: ${next.error}`);
    elements = next.value;
  }
  return elements;
}
