import { Timestamp } from "firebase-admin/firestore";
import { z } from "zod";

/**
 * A mirror task as the app writes it (docs/DATA_MODEL.md), and the fields the workers own.
 * Parsing happens once, when a worker claims the task; a task that does not parse is a
 * permanent failure and is never retried.
 */
export const TASK_STATUSES = ["pending", "processing", "done", "failed"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

const docId = (name: string) =>
  z
    .string({ error: `${name} must be a string` })
    .min(1, { error: `${name} must not be empty` })
    .max(1500, { error: `${name} is too long` })
    .refine((s) => !s.includes("/") && s !== "." && s !== "..", { error: `${name} must be a document id (no "/")` });

const timestamp = (name: string) =>
  z.custom<Timestamp>((v) => v instanceof Timestamp, { error: `${name} must be a Firestore Timestamp` });

const fields = (name: string) =>
  z.record(z.string(), z.unknown(), { error: `${name} must be a map of fields` });

const common = {
  uid: docId("uid"),
  historyId: docId("historyId"),
  createdAt: timestamp("createdAt"),
};

export const mirrorTaskSchema = z.discriminatedUnion(
  "op",
  [
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

export type MirrorTask = z.infer<typeof mirrorTaskSchema>;

export type ParsedTask = { ok: true; task: MirrorTask } | { ok: false; error: string };

export function parseMirrorTask(data: unknown): ParsedTask {
  const result = mirrorTaskSchema.safeParse(data);
  if (result.success) return { ok: true, task: result.data };
  const problems = result.error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message));
  return { ok: false, error: `invalid task: ${problems.join("; ")}` };
}

/** The workers' own fields on a task doc that decide whether it can be claimed. */
export interface TaskState {
  status?: TaskStatus;
  attempts?: number;
  leaseExpiresAt?: Timestamp;
  nextAttemptAt?: Timestamp;
  deadLetter?: boolean;
}

export function readTaskState(data: FirebaseFirestore.DocumentData): TaskState {
  const status = TASK_STATUSES.includes(data.status) ? (data.status as TaskStatus) : undefined;
  return {
    status,
    attempts: typeof data.attempts === "number" ? data.attempts : 0,
    leaseExpiresAt: data.leaseExpiresAt instanceof Timestamp ? data.leaseExpiresAt : undefined,
    nextAttemptAt: data.nextAttemptAt instanceof Timestamp ? data.nextAttemptAt : undefined,
    deadLetter: data.deadLetter === true,
  };
}
