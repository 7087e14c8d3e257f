import { HttpsError, onCall } from "firebase-functions/v2/https";
import { parseRunWorkerRequest } from "../core/manualRun/request";
import { runManual } from "../core/manualRun/runManual";
import { deployedDeps, deployedMediaStore, zataSecrets } from "../runtime/deployed";

/** Manual runs for admins (custom claim `admin: true`). A rejected call runs nothing. */
export const runWorker = onCall({ secrets: zataSecrets, timeoutSeconds: 540 }, async (request) => {
  if (!request.auth) throw new HttpsError("unauthenticated", "sign in to run workers");
  if (request.auth.token.admin !== true) throw new HttpsError("permission-denied", "running workers requires the admin custom claim");
  const parsed = parseRunWorkerRequest(request.data);
  const deps = deployedDeps("runWorker");
  if (!parsed.ok) {
    deps.logger.warn("runWorker.rejected", { uid: request.auth.uid, error: parsed.error });
    throw new HttpsError("invalid-argument", parsed.error);
  }
  deps.logger.info("runWorker.called", { uid: request.auth.uid, request: parsed.request });
  return runManual(deps, deployedMediaStore, parsed.request);
});
