import { onSchedule } from "firebase-functions/v2/scheduler";
import { processSnapshots } from "../core/snapshots/processSnapshots";
import { deployedDeps } from "../runtime/deployed";
import { scheduleOptions } from "../runtime/scheduleOptions";

export const canvasSnapshots = onSchedule(scheduleOptions("every 6 hours", { timeoutSeconds: 540, retryCount: 2 }), async () => {
  await processSnapshots(deployedDeps({ entryPoint: "canvasSnapshots", worker: "snapshots" }));
});
