import { onDocumentDeleted } from "firebase-functions/v2/firestore";
import { deleteProjectData } from "../core/snapshots/deleteProject";
import { deployedDeps } from "../runtime/deployed";
import { functionsRegion } from "../runtime/params";

/**
 * `retry: true`: redelivered until the subcollections are gone; deleting them again is harmless.
 * `maxInstances` bounds the delete load of a burst of project deletions; events beyond it wait.
 */
export const onCanvasProjectDeleted = onDocumentDeleted(
  { document: "canvasProjects/{projectId}", region: functionsRegion, retry: true, maxInstances: 10 },
  async (event) => {
    await deleteProjectData(
      deployedDeps({ entryPoint: "onCanvasProjectDeleted", worker: "canvasProjectDeleted" }),
      event.params.projectId,
      { ownerUid: event.data?.get("ownerUid") },
    );
  },
);
