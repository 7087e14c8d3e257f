import { onSchedule } from "firebase-functions/v2/scheduler";
import { processSnapshots } from "../core/snapshots/processSnapshots";
import { deployedDeps } from "../runtime/deployed";

export const canvasSnapshots = onSchedule({ schedule: "every 6 hours", timeoutSeconds: 540 }, async () => {
  await processSnapshots(deployedDeps("snapshots"));
});
