import { PermanentError } from "../errors";
import { mergeMediaFields } from "./mediaMerge";
import { isOlderThan, markFields, markOf, newer, type TaskOrder } from "./ordering";
import { createdByFrom, isPublishable, publicProjection, type Doc, type FieldIssue } from "./publicFields";
import type { MirrorTask } from "./task";

/**
 * What a task does to its mirror doc, decided from what was read in one transaction: a pure
 * function, so the rules are tested without Firestore.
 *
 * - The source decides what is public. Every task reads the source item; when it is missing,
 *   private or deleted, the mirror doc goes, whatever the task says and however old it is.
 * - An upsert makes the mirror the source's public projection (publicFields.ts), with `createdBy`
 *   from users/{uid} and the optimization fields the mirror already has (smart merge). The task's
 *   snapshot is never published: the source read in the same transaction is newer or equal.
 * - An update applies its public fields to a mirrored item, unless a newer task was applied.
 * - A remove deletes the mirror doc, unless a newer task published the item and the source agrees.
 * - The task's uid must own the mirror doc; otherwise nothing changes and the task fails for good.
 */
export type Outcome = "published" | "updated" | "removed" | "unpublished" | "stale" | "not-mirrored";

export type MirrorChange = { kind: "set"; data: Doc } | { kind: "update"; data: Doc; clear: string[] } | { kind: "delete" } | { kind: "none" };

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

const plan = (outcome: Outcome, change: MirrorChange = { kind: "none" }, dropped: FieldIssue[] = []): MirrorPlan => ({ outcome, change, dropped });

export function planMirrorWrite(input: PlanInput): MirrorPlan {
  const { task, source, mirror } = input;
  const owner = mirror?.uid;
  if (typeof owner === "string" && owner !== task.uid) {
    throw new PermanentError(`task uid "${task.uid}" does not own publicGenerations/${task.historyId}: it belongs to another user`, "uid");
  }
  const order: TaskOrder = { createdAt: task.createdAt, taskId: input.taskId };
  const mark = markOf(mirror);
  const remove = (outcome: "removed" | "unpublished") => plan(outcome, mirror ? { kind: "delete" } : { kind: "none" });

  switch (task.op) {
    case "remove":
      if (!mirror) return plan("removed");
      // Staleness may skip a removal only while the source itself says public.
      return isOlderThan(order, mark) && isPublishable(source) ? plan("stale") : remove("removed");
    case "update": {
      if (!mirror) return plan("not-mirrored");
      if (!isPublishable(source)) return remove("unpublished");
      if (isOlderThan(order, mark)) return plan("stale");
      const { set, clear, unpublish } = task.updates;
      if (unpublish) return remove("removed");
      return plan("updated", { kind: "update", data: { ...mergeMediaFields(mirror, set), ...markFields(order) }, clear });
    }
    case "upsert": {
      if (!isPublishable(source)) return remove("unpublished");
      const { fields, dropped } = publicProjection(source!);
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
