import { onDocumentCreated } from "firebase-functions/v2/firestore";
import { processMirrorTask } from "../core/mirror/processMirrorTask";
import { deployedDeps } from "../runtime/deployed";

/**
 * Every created task, whatever it holds: the event's snapshot saves reading the task again.
 * Failures are recorded on the task and retried by the queue's own backoff, not by redelivery.
 */
export const onMirrorQueueTaskCreated = onDocumentCreated({ document: "mirrorQueue/{taskId}", retry: false }, async (event) => {
  await processMirrorTask(deployedDeps("mirrorTrigger"), event.params.taskId, { workerId: "trigger", snapshot: event.data });
});
