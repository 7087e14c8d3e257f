import { onSchedule } from "firebase-functions/v2/scheduler";
import { runMediaGC } from "../core/mediaGC/runMediaGC";
import { deployedMediaGCDeps, zataSecrets } from "../runtime/deployed";

/** Timeout 9 min; after 7 (its time budget) the GC starts no batch and aborts a storage request still running. */
export const canvasMediaGC = onSchedule({ schedule: "every 24 hours", timeoutSeconds: 540, secrets: zataSecrets }, async () => {
  await runMediaGC(deployedMediaGCDeps());
});
