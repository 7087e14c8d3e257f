import { onSchedule } from "firebase-functions/v2/scheduler";
import { runMediaGC } from "../core/mediaGC/runMediaGC";
import { deployedMediaGCDeps } from "../runtime/deployed";
import { zataSecrets } from "../runtime/params";
import { scheduleOptions } from "../runtime/scheduleOptions";

/**
 * Timeout 9 min; after 7 (its time budget) the GC starts no batch and aborts a storage request still
 * running. Retried twice: a run that failed deleted nothing it had not marked.
 */
export const canvasMediaGC = onSchedule(
  { ...scheduleOptions("every 24 hours", { timeoutSeconds: 540, retryCount: 2 }), secrets: zataSecrets },
  async () => {
    await runMediaGC(deployedMediaGCDeps({ entryPoint: "canvasMediaGC", worker: "mediaGC" }));
  },
);
