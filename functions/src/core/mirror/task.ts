import { Timestamp } from "firebase-admin/firestore";
import { z } from "zod";
import { describeValue } from "./describe";
import { parsePublicUpdates, type PublicUpdates } from "./publicFields";

/**
 * A mirror task as the app writes it, and the fields the workers own on it. Parsing happens once,
 * before a worker claims the task; a task that does not parse fails at once and is never retried.
 */
export const TASK_STATUSES = ["pending", "processing", "done", "failed"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/**
 * How far a task's `createdAt` may be ahead of the task document's `createTime` (the server's time
 * when the doc was created; never the worker's clock, which may be wrong). A server timestamp is
 * never ahead; app servers' clocks drift by seconds. A task dated further ahead would order itself
 * after every task of the next hours, so it is refused instead (after the fail-safe unpublish).
 */
export const MAX_CREATED_AT_SKEW_MS = 60_000;

/** At most this many problems are listed in a `lastError`, and it is cut to MAX_ERROR_CHARS. */
const MAX_LISTED_PROBLEMS = 5;
export const MAX_ERROR_CHARS = 2_000;

/** Firestore's rules for a document id: 1–1,500 bytes of UTF-8, no "/", not "." or "..", not `__…__`. */
const docId = (name: string) =>
  z
    .string({ error: `${name} must be a string` })
    .min(1, { error: `${name} must not be empty` })
    .refine((s) => Buffer.byteLength(s, "utf8") <= 1500, { error: `${name} is longer than Firestore's 1,500-byte id limit` })
    .refine((s) => !s.includes("/") && s !== "." && s !== "..", { error: `${name} must be a document id (no "/", not "." or "..")` })
    .refine((s) => !/^__.*__$/.test(s), { error: `${name} must not look like "__name__": Firestore reserves those ids` });

const timestamp = (name: string) =>
  z.unknown().superRefine((v, ctx) => {
    if (!(v instanceof Timestamp))
      ctx.addIssue({ code: "custom", message: `${name} must be a Firestore Timestamp, got ${describeValue(v)}` });
  }) as unknown as z.ZodType<Timestamp>;

const fields = (name: string) => z.record(z.string(), z.unknown(), { error: `${name} must be a map of fields` });

const common = { uid: docId("uid"), historyId: docId("historyId"), createdAt: timestamp("createdAt") };

const taskSchema = z.discriminatedUnion(
  "op",
  [
    // The snapshot is checked for shape only: the source item, read fresh, is what gets published.
    z.object({ op: z.literal("upsert"), ...common, snapshot: fields("snapshot").optional() }),
    z.object({
      op: z.literal("update"),
      ...common,
      updates: fields("updates").refine((u) => Object.keys(u).length > 0, { error: "updates must not be empty" }),
    }),
    z.object({ op: z.literal("remove"), ...common }),
  ],
  { error: (issue) => (issue.code === "invalid_union" ? 'op must be "upsert", "update" or "remove"' : undefined) },
);

interface TaskCommon {
  uid: string;
  historyId: string;
  createdAt: Timestamp;
}
export type MirrorTask =
  (TaskCommon & { op: "upsert" }) | (TaskCommon & { op: "update"; updates: PublicUpdates }) | (TaskCommon & { op: "remove" });

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Cut to MAX_ERROR_CHARS, so a `lastError` always fits the task doc. */
export function boundedError(message: string): string {
  return message.length <= MAX_ERROR_CHARS ? message : `${message.slice(0, MAX_ERROR_CHARS - 1)}…`;
}

/**
 * "invalid task: " and the first MAX_LISTED_PROBLEMS problems, each naming its field; the count of
 * the rest. Bounded, so a payload with thousands of bad values still gets an error that names them.
 */
const invalid = (problems: string[]): { ok: false; error: string } => {
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS);
  const more = problems.length - listed.length;
  return {
    ok: false,
    error: boundedError(`invalid task: ${listed.join("; ")}${more > 0 ? `; and ${more.toLocaleString("en-US")} more problems` : ""}`),
  };
};

/** The task's key, when its `uid` and `historyId` are valid ids: enough to read the source and unpublish. */
export function parseTaskKey(data: unknown): { uid: string; historyId: string } | undefined {
  const result = z.object({ uid: docId("uid"), historyId: docId("historyId") }).safeParse(data);
  return result.success ? result.data : undefined;
}

/**
 * The task's payload, validated. `createdAtMs` is the server's time when the task doc was created
 * (its `createTime`): a `createdAt` more than MAX_CREATED_AT_SKEW_MS ahead of it is refused.
 */
export function parseMirrorTask(data: unknown, createdAtMs: number): Parsed<MirrorTask> {
  const result = taskSchema.safeParse(data);
  if (!result.success) return invalid(result.error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message)));
  const { op, uid, historyId, createdAt } = result.data;
  const aheadMs = createdAt.toMillis() - createdAtMs;
  if (aheadMs > MAX_CREATED_AT_SKEW_MS) {
    return invalid([
      `createdAt: createdAt is ${Math.round(aheadMs / 1000).toLocaleString("en-US")} s ahead of the time Firestore created the task (at most ${MAX_CREATED_AT_SKEW_MS / 1000} s allowed)`,
    ]);
  }
  if (result.data.op !== "update") return { ok: true, value: { op, uid, historyId, createdAt } as MirrorTask };
  const updates = parsePublicUpdates(result.data.updates);
  if (!updates.ok) return invalid(updates.issues.map((i) => `updates.${i.path}: ${i.message}`));
  return { ok: true, value: { op: "update", uid, historyId, createdAt, updates: updates.value } };
}

/** The workers' own fields on a task doc, as far as they decide whether it can be claimed. */
export interface TaskState {
  /** Undefined: the app wrote no status, which means pending. */
  status?: TaskStatus;
  attempts: number;
  leaseExpiresAt?: Timestamp;
  nextAttemptAt?: Timestamp;
  deadLetter: boolean;
  lastError?: string;
}

/**
 * Reads the workers' fields. `status` and `attempts` decide how often a task may still run, so a
 * value of another type is an error, never a default: `attempts: NaN` or `-100` would otherwise
 * loop or grant extra attempts. Timestamps of another type count as absent (a lease that is not a
 * Timestamp has expired; a retry time that is not one is due).
 */
export function readTaskState(data: FirebaseFirestore.DocumentData): Parsed<TaskState> {
  const problems: string[] = [];
  const status = data.status;
  if (status !== undefined && !TASK_STATUSES.includes(status)) {
    problems.push(`status: status must be one of ${TASK_STATUSES.map((s) => `"${s}"`).join(", ")} or absent, got ${describeValue(status)}`);
  }
  const attempts = data.attempts ?? 0;
  if (!Number.isSafeInteger(attempts) || attempts < 0)
    problems.push(`attempts: attempts must be a whole number >= 0 or absent, got ${describeValue(data.attempts)}`);
  if (problems.length) return invalid(problems);
  return {
    ok: true,
    value: {
      status,
      attempts,
      leaseExpiresAt: data.leaseExpiresAt instanceof Timestamp ? data.leaseExpiresAt : undefined,
      nextAttemptAt: data.nextAttemptAt instanceof Timestamp ? data.nextAttemptAt : undefined,
      deadLetter: data.deadLetter === true,
      lastError: typeof data.lastError === "string" ? data.lastError : undefined,
    },
  };
}
