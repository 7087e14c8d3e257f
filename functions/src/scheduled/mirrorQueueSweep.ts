import { onSchedule } from "firebase-functions/v2/scheduler";
import { sweepMirrorQueue } from "../core/mirror/sweep";
import { deployedDeps } from "../runtime/deployed";
import { scheduleOptions } from "../runtime/scheduleOptions";
import { SCHEDULED_SWEEP_LIMIT } from "../core/limits";

/** Catches what the trigger missed: pending, retry-due and lease-expired tasks. Not retried: the next run is 5 minutes later. */
export const mirrorQueueSweep = onSchedule(scheduleOptions("every 5 minutes", { timeoutSeconds: 300, retryCount: 0 }), async () => {
  await sweepMirrorQueue(deployedDeps({ entryPoint: "mirrorQueueSweep", worker: "mirrorQueue" }), { limit: SCHEDULED_SWEEP_LIMIT });
});
