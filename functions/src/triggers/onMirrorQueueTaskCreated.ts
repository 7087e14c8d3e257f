import { onDocumentCreated } from "firebase-functions/v2/firestore";
import { processMirrorTask } from "../core/mirror/processMirrorTask";
import { deployedDeps } from "../runtime/deployed";
import { functionsRegion } from "../runtime/params";

/**
/**
 * Every created task, whatever it holds: the event's snapshot saves reading the task again.
 * `retry: false`: a failed task is recorded on the task itself and retried by the queue's own
 * backoff (and the sweep), with a bounded number of attempts; event redelivery would retry without
 * that bound. `maxInstances` caps the Firestore load (and cost) of a burst of new tasks; events
 * beyond it wait for an instance, and the sweep catches any that time out.
 */
export const onMirrorQueueTaskCreated = onDocumentCreated(
  { document: "mirrorQueue/{taskId}", region: functionsRegion, retry: false, maxInstances: 20 },
  async (event) => {
    await processMirrorTask(deployedDeps({ entryPoint: "onMirrorQueueTaskCreated", worker: "mirrorQueue" }), event.params.taskId, {
      workerId: "trigger",
      snapshot: event.data,
    });
  },
);
