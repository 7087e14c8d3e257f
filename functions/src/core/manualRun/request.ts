import { z } from "zod";
import { workerSettings } from "../config";
import { MANUAL_SWEEP_LIMIT } from "../limits";
import { documentId } from "../firestoreIds";

/**
 * The `runWorker` callable's request (README, "Manual runs"): a discriminated union on `worker`, strict
 * (an unknown field is an error, not ignored), with bounds on every number and Firestore's rules
 * for ids, so a rejected
 * request names its field and runs nothing.
 */
const int = (name: string, min: number, max: number) =>
  z
    .number({ error: `${name} must be a number` })
    .int({ error: `${name} must be an integer` })
    .min(min, { error: `${name} must be >= ${min}` })
    .max(max, { error: `${name} must be <= ${max}` });

/** A one-run override of a setting takes the setting's own bounds. */
const override = (name: string, setting: { bounds: { min: number; max: number } }) => int(name, setting.bounds.min, setting.bounds.max);

const bool = (name: string) => z.boolean({ error: `${name} must be true or false` });

/** The last instant a Firestore Timestamp holds, 9999-12-31T23:59:59.999Z in ms (Timestamp's own bound). */
const LAST_TIMESTAMP_MS = 253_402_300_799_999;

/**
 * An ISO 8601 date (`2024-05-01`: midnight UTC) or date-time with a zone (`2024-05-01T12:00:00Z`,
 * `+02:00`; milliseconds are kept, finer digits dropped), from 1970 to the end of 9999 in UTC (a
 * zone can move 9999-12-31 past it, where no Timestamp reaches).
 */
const isoDate = (name: string) =>
  z
    .string({ error: `${name} must be a string` })
    .max(40, { error: `${name} must be an ISO 8601 date, at most 40 characters` })
    .refine((s) => z.iso.date().safeParse(s).success || z.iso.datetime({ offset: true }).safeParse(s).success, {
      error: `${name} must be an ISO 8601 date (2024-05-01) or date-time with a zone (2024-05-01T12:00:00Z)`,
    })
    .refine((s) => !(Date.parse(s) < 0), { error: `${name} must be 1970-01-01 or later` })
    .refine((s) => !(Date.parse(s) > LAST_TIMESTAMP_MS), { error: `${name} must be 9999-12-31T23:59:59.999Z or earlier` });

/** The instant an ISO date of the request names. */
export const parseIsoDate = (value: string): Date => new Date(value);

export const runWorkerRequestSchema = z.discriminatedUnion(
  "worker",
  [
    z.strictObject({
      worker: z.literal("mediaGC"),
      dryRun: bool("dryRun").optional(),
      ttlDays: override("ttlDays", workerSettings.MEDIA_GC_TTL_DAYS).optional(),
      batchSize: override("batchSize", workerSettings.MEDIA_GC_BATCH_SIZE).optional(),
    }),
    z
      .strictObject({
        worker: z.literal("snapshots"),
        projectId: documentId("projectId").optional(),
        force: bool("force").optional(),
        batchSize: override("batchSize", workerSettings.SNAPSHOT_BATCH_SIZE).optional(),
      })
      // A forced snapshot of every due project would be the scheduled run with a surprise: refuse it.
      .refine((r) => !r.force || r.projectId !== undefined, { error: "force needs a projectId", path: ["force"] }),
    z.strictObject({ worker: z.literal("signupImageCache") }),
    z.strictObject({ worker: z.literal("mirrorQueue"), limit: int("limit", 1, MANUAL_SWEEP_LIMIT.max).optional() }),
    z.strictObject({
      worker: z.literal("mirrorBackfill"),
      dryRun: bool("dryRun").optional(),
      uid: documentId("uid").optional(),
      since: isoDate("since").optional(),
    }),
    z.strictObject({ worker: z.literal("mirrorVerify"), repair: bool("repair").optional() }),
    z.strictObject({ worker: z.literal("status") }),
  ],
  {
    error: (issue) =>
      issue.code === "invalid_union"
        ? 'worker must be one of "mediaGC", "snapshots", "signupImageCache", "mirrorQueue", "mirrorBackfill", "mirrorVerify", "status"'
        : undefined,
  },
);

export type RunWorkerRequest = z.infer<typeof runWorkerRequestSchema>;

export function parseRunWorkerRequest(data: unknown): { ok: true; request: RunWorkerRequest } | { ok: false; error: string } {
  if (typeof data !== "object" || data === null || Array.isArray(data))
    return { ok: false, error: "request data must be an object with a worker field" };
  const result = runWorkerRequestSchema.safeParse(data);
  if (result.success) return { ok: true, request: result.data };
  const problems = result.error.issues.map((i) => {
    if (i.code === "unrecognized_keys") return `unknown field${i.keys.length > 1 ? "s" : ""} ${i.keys.join(", ")}`;
    return i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message;
  });
  return { ok: false, error: problems.join("; ") };
}
