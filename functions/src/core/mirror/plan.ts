import { Timestamp } from "firebase-admin/firestore";
import { mergeMediaFields } from "./mediaMerge";
import type { MirrorTask } from "./task";

/**
 * What a task does to its mirror doc, decided from what was read: a pure function, so the
 * ordering and deletion-safety rules are tested without Firestore.
 *
 * - Ordering: `mirrorState/{historyId}` records the `createdAt` of the task applied last to that
 *   mirror doc, and survives the doc's removal; a task created earlier is stale and changes nothing.
 * - Deletion safety: an upsert publishes only when the source item exists, is public and is
 *   not deleted, whatever its snapshot says; otherwise the mirror doc is removed.
 */
export type Doc = Record<string, unknown>;

export interface PlanInput {
  taskId: string;
  task: MirrorTask;
  mirror?: Doc;
  /** mirrorState/{historyId}: the mark of the task applied last. */
  state?: Doc;
  /** The history item; read for every upsert. */
  source?: Doc;
  /** users/{uid}; read only when the item carries no createdBy. */
  user?: Doc;
}

export type Outcome = "published" | "updated" | "removed" | "unpublished" | "stale" | "not-mirrored";

export type MirrorPlan =
  | { kind: "write"; outcome: "published" | "updated"; data: Doc }
  | { kind: "remove"; outcome: "removed" | "unpublished" }
  | { kind: "skip"; outcome: "stale" | "not-mirrored" };

function appliedAt(state: Doc | undefined): number {
  const t = state?.taskCreatedAt;
  return t instanceof Timestamp ? t.toMillis() : Number.NEGATIVE_INFINITY;
}

export function isPublishable(item: Doc | undefined): boolean {
  return item !== undefined && item.isPublic === true && item.isDeleted !== true;
}

/** True when an upsert must first read users/{uid} to attach createdBy. */
export function needsUserProfile(task: MirrorTask, source: Doc | undefined): boolean {
  if (task.op !== "upsert") return false;
  const item = task.snapshot ?? source;
  return isPublishable(source) && !hasCreatedBy(item);
}

const hasCreatedBy = (item: Doc | undefined) => typeof item?.createdBy === "object" && item.createdBy !== null;

function createdByFrom(uid: string, item: Doc, user: Doc | undefined): unknown {
  if (hasCreatedBy(item)) return item.createdBy;
  const field = (name: string) => (typeof user?.[name] === "string" ? user[name] : null);
  return { uid, username: field("username"), displayName: field("displayName"), photoURL: field("photoURL") };
}

export function planMirrorWrite(input: PlanInput): MirrorPlan {
  const { task, mirror } = input;
  if (task.createdAt.toMillis() < appliedAt(input.state)) return { kind: "skip", outcome: "stale" };
  const mark = { mirrorTaskId: input.taskId };

  switch (task.op) {
    case "remove":
      return { kind: "remove", outcome: "removed" };
    case "update": {
      if (!mirror) return { kind: "skip", outcome: "not-mirrored" };
      if (task.updates.isPublic === false || task.updates.isDeleted === true) return { kind: "remove", outcome: "removed" };
      return { kind: "write", outcome: "updated", data: { ...mergeMediaFields(mirror, task.updates), ...mark } };
    }
    case "upsert": {
      const item = task.snapshot ?? input.source;
      if (!isPublishable(input.source) || (task.snapshot && (task.snapshot.isDeleted === true || task.snapshot.isPublic === false))) {
        return { kind: "remove", outcome: "unpublished" };
      }
      const data = {
        ...mergeMediaFields(mirror, item!),
        uid: task.uid,
        historyId: task.historyId,
        createdBy: createdByFrom(task.uid, item!, input.user),
        ...mark,
      };
      return { kind: "write", outcome: "published", data };
    }
  }
}
