import { onSchedule } from "firebase-functions/v2/scheduler";
import { processPendingTasks } from "../core/mirror/processPendingTasks";
import { deployedDeps } from "../runtime/deployed";

/** Catches what the trigger missed: pending, retry-due and lease-expired tasks. */
export const mirrorQueueSweep = onSchedule({ schedule: "every 5 minutes", timeoutSeconds: 300 }, async () => {
  await processPendingTasks(deployedDeps("mirrorSweep"), { limit: 500 });
});
