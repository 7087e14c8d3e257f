import { Timestamp } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import type { WorkerDeps } from "../deps";
import { isConflict } from "../errors";
import { failureRefOf } from "./failures";
import { projectRefOf } from "./snapshotProject";

/**
 * What deleting `canvasProjects/{projectId}` leaves to clean: every subcollection under it
 * (elements, ops, snapshots with their parts, and any the app added), deleted with
 * `recursiveDelete`, and its snapshot failure record. Idempotent, so a redelivered event is harmless.
 *  - The tombstone `deletedCanvasProjects/{projectId}` keeps the id from being created again
 *    (firestore.rules), so no one reaches data this has not deleted yet. Clients write it in the
 *    batch that deletes the project; for a delete made without one (Admin SDK), it is written here.
 *  - A project that exists again (re-created through the Admin SDK, which rules do not stop) is
 *    left alone: its subcollections may be the new project's, and nothing is deleted unsure.
 *  - The snapshot writer's parts writes are transactions that find the project, so none land after this.
 */
export interface DeleteProjectReport {
  projectId: string;
  deleted: number;
  recreated: boolean;
}

export async function deleteProjectData(
  deps: WorkerDeps,
  projectId: string,
  deleted: { ownerUid?: unknown } = {},
): Promise<DeleteProjectReport> {
  const { db, clock } = deps;
  const logger = deps.logger.child({ worker: "canvasProjectDeleted", projectId });
  const projectRef = projectRefOf(db, projectId);
  if ((await projectRef.get()).exists) {
    logger.warn("project.recreated", { reason: "the project exists again; its subcollections are left alone" });
    return { projectId, deleted: 0, recreated: true };
  }
  await db
    .collection(COLLECTIONS.deletedCanvasProjects)
    .doc(projectId)
    .create({ ownerUid: typeof deleted.ownerUid === "string" ? deleted.ownerUid : null, deletedAt: Timestamp.fromMillis(clock.now()) })
    .catch((error) => {
      if (!isConflict(error)) throw error;
    });
  let count = 0;
  const writer = db.bulkWriter();
  writer.onWriteResult(() => count++);
  for (const collection of await projectRef.listCollections()) await db.recursiveDelete(collection, writer);
  await writer.close();
  await failureRefOf(db, projectId).delete();
  logger.info("project.data_deleted", { deleted: count });
  return { projectId, deleted: count, recreated: false };
}
