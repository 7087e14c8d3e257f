import { Timestamp } from "firebase-admin/firestore";
import type { Doc } from "./publicFields";

/**
 * The ordering rule. A task's place in time is its `createdAt` at full Timestamp precision
 * (seconds, then nanoseconds), then its task id: of two tasks created at the same instant, the one
 * whose id sorts later (JavaScript string order) counts as newer. Every worker orders two tasks the
 * same way, whatever order they arrive in.
 *
 * A mirror doc carries the place of the task applied last (`mirrorTaskCreatedAt`, `mirrorTaskId`).
 * Only `update` and `remove` payloads can be stale against it; an upsert rewrites the mirror from the
 * source as it is now, which is never stale. The mark goes with the doc: once an item is unpublished
 * there is nothing left to order against, and the source decides alone.
 */
export interface TaskOrder {
  createdAt: Timestamp;
  taskId: string;
}

export function compareOrder(a: TaskOrder, b: TaskOrder): number {
  if (a.createdAt.seconds !== b.createdAt.seconds) return a.createdAt.seconds < b.createdAt.seconds ? -1 : 1;
  if (a.createdAt.nanoseconds !== b.createdAt.nanoseconds) return a.createdAt.nanoseconds < b.createdAt.nanoseconds ? -1 : 1;
  if (a.taskId === b.taskId) return 0;
  return a.taskId < b.taskId ? -1 : 1;
}

/** The mark of the task applied last to a mirror doc, if it carries a valid one. */
export function markOf(mirror: Doc | undefined): TaskOrder | undefined {
  const createdAt = mirror?.mirrorTaskCreatedAt;
  const taskId = mirror?.mirrorTaskId;
  return createdAt instanceof Timestamp && typeof taskId === "string" ? { createdAt, taskId } : undefined;
}

export function markFields(order: TaskOrder): Doc {
  return { mirrorTaskCreatedAt: order.createdAt, mirrorTaskId: order.taskId };
}

/** True when `task` is older than the mark: its payload describes a state the mirror has moved past. */
export function isOlderThan(task: TaskOrder, mark: TaskOrder | undefined): boolean {
  return mark !== undefined && compareOrder(task, mark) < 0;
}

export function newer(a: TaskOrder, b: TaskOrder | undefined): TaskOrder {
  return b && compareOrder(b, a) > 0 ? b : a;
}
