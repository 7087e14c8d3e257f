import { PermanentError } from "../errors";
import { mergeMediaFields } from "./mediaMerge";
import { isOlderThan, markFields, markOf, newer, type TaskOrder } from "./ordering";
import { describeValue } from "./describe";
import { createdByFrom, isPublishable, PUBLIC_FIELDS, publicProjection, type Doc, type FieldIssue } from "./publicFields";
import type { MirrorTask } from "./task";

/**
 * What a task does to its mirror doc, decided from what was read in one transaction: a pure
 * function, so the rules are tested without Firestore.
 *
 * - The source decides what is public. Every task reads the source item; when it is missing,
 *   private or deleted, the mirror doc goes, whatever the op, the payload or its age say.
 * - Every op that writes makes the mirror the source's public projection as it is now
 *   (publicFields.ts), with the optimization fields the mirror already has (smart merge): an
 *   upsert creates or replaces the doc (with `createdBy` from users/{uid}); an update rewrites the
 *   public fields of a mirrored item and clears those the source no longer has (it never creates
 *   the doc). The payloads (snapshot, updates) are validated but never published: the source read
 *   in the same transaction is newer or equal, so ordering can never keep a removed field or image.
 * - Ordering (ordering.ts) only decides one case: a remove, or an update that unpublishes, while
 *   the source still says public. An older one than the last applied task is `stale`.
 * - The task's uid must own the mirror doc; a mirror doc without a uid belongs to nobody a task can
 *   prove, so no task changes it. Otherwise nothing changes and the task fails for good.
 * - A removed mirror doc leaves an owner tombstone (`publicGenerationOwners/{historyId}`), so the
 *   gallery id is never given to another user (firestore.rules).
 */
export type Outcome = "published" | "updated" | "removed" | "unpublished" | "stale" | "not-mirrored";

export type MirrorChange =
  { kind: "set"; data: Doc } | { kind: "update"; data: Doc; clear: string[] } | { kind: "delete"; owner: string } | { kind: "none" };

export interface MirrorPlan {
  outcome: Outcome;
  change: MirrorChange;
  /** Source fields left out of the mirror for their type. */
  dropped: FieldIssue[];
}

export interface PlanInput {
  taskId: string;
  task: MirrorTask;
  /** The history item, generationHistory/{task.uid}/items/{task.historyId}. */
  source?: Doc;
  mirror?: Doc;
  /** users/{task.uid}; needed when an upsert publishes. */
  user?: Doc;
}

/** True when the plan will publish, so users/{uid} must be read for `createdBy`. */
export function needsProfile(task: MirrorTask, source: Doc | undefined): boolean {
  return task.op === "upsert" && isPublishable(source);
}

const plan = (outcome: Outcome, change: MirrorChange = { kind: "none" }, dropped: FieldIssue[] = []): MirrorPlan => ({
  outcome,
  change,
  dropped,
});

/** Throws unless the task's uid owns the mirror doc (or there is none). */
export function checkOwner(uid: string, historyId: string, mirror: Doc | undefined): void {
  if (!mirror) return;
  if (typeof mirror.uid !== "string") {
    throw new PermanentError(
      `publicGenerations/${historyId} has no uid, so no task can prove it owns it (uid: ${describeValue(mirror.uid)}); it is left as it is`,
      "uid",
    );
  }
  if (mirror.uid !== uid)
    throw new PermanentError(`task uid "${uid}" does not own publicGenerations/${historyId}: it belongs to another user`, "uid");
}

/** Public fields the mirror has and the projection does not: cleared by an update. */
const absentPublicFields = (mirror: Doc, fields: Doc) => Object.keys(PUBLIC_FIELDS).filter((f) => f in mirror && !(f in fields));

export function planMirrorWrite(input: PlanInput): MirrorPlan {
  const { task, source, mirror } = input;
  checkOwner(task.uid, task.historyId, mirror);
  const order: TaskOrder = { createdAt: task.createdAt, taskId: input.taskId };
  const mark = markOf(mirror);
  const remove = (outcome: "removed" | "unpublished") => plan(outcome, mirror ? { kind: "delete", owner: task.uid } : { kind: "none" });

  if (task.op === "update" && !mirror) return plan("not-mirrored");
  if (!isPublishable(source)) return remove(task.op === "remove" ? "removed" : "unpublished");
  // The source says public from here on.
  const { fields, dropped } = publicProjection(source!);
  switch (task.op) {
    case "remove":
      return isOlderThan(order, mark) ? plan("stale") : remove("removed");
    case "update": {
      if (task.updates.unpublish) return isOlderThan(order, mark) ? plan("stale") : remove("removed");
      const data = { ...mergeMediaFields(mirror, fields), ...markFields(newer(order, mark)) };
      return plan("updated", { kind: "update", data, clear: absentPublicFields(mirror!, fields) }, dropped);
    }
    case "upsert": {
      const data = {
        ...mergeMediaFields(mirror, fields),
        isPublic: true,
        isDeleted: false,
        uid: task.uid,
        historyId: task.historyId,
        createdBy: createdByFrom(task.uid, input.user),
        ...markFields(newer(order, mark)),
      };
      return plan("published", { kind: "set", data }, dropped);
    }
  }
}
