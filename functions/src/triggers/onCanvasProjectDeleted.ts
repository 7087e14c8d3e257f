import { onDocumentDeleted } from "firebase-functions/v2/firestore";
import { deleteProjectData } from "../core/snapshots/deleteProject";
import { deployedDeps } from "../runtime/deployed";

/** Retried on failure: deleting the subcollections again is harmless. */
export const onCanvasProjectDeleted = onDocumentDeleted({ document: "canvasProjects/{projectId}", retry: true }, async (event) => {
  await deleteProjectData(deployedDeps("canvasProjectDeleted"), event.params.projectId, { ownerUid: event.data?.get("ownerUid") });
});
