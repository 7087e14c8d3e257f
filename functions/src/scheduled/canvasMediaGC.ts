import { onSchedule } from "firebase-functions/v2/scheduler";
import { runMediaGC } from "../core/mediaGC/runMediaGC";
import { deployedMediaGCDeps, zataSecrets } from "../runtime/deployed";

/** Timeout 9 min; the GC stops starting batches after 7 (its time budget). */
export const canvasMediaGC = onSchedule({ schedule: "every 24 hours", timeoutSeconds: 540, secrets: zataSecrets }, async () => {
  await runMediaGC(deployedMediaGCDeps());
});
