import { HttpsError, onCall, type CallableOptions } from "firebase-functions/v2/https";
import { parseRunWorkerRequest } from "../core/manualRun/request";
import { runManual } from "../core/manualRun/runManual";
import { deployedDeps, deployedMediaStore } from "../runtime/deployed";
import { functionsRegion, runWorkerEnforcesAppCheck, zataSecrets } from "../runtime/params";

/**
 * Options of the runWorker callable:
 * - App Check: enforced when RUNWORKER_ENFORCE_APP_CHECK is true (off by default, so operators'
 *   scripts without an App Check token work; the admin claim is the gate).
 * - CORS: any origin. Callers authenticate with a bearer ID token, never a cookie, so another site
 *   cannot call it with an admin's credentials, and an origin check would not stop non-browser callers.
 * - maxInstances: a few operators at a time; each run may take up to the 9-minute timeout.
 */
const options: CallableOptions = {
  region: functionsRegion,
  secrets: zataSecrets,
  timeoutSeconds: 540,
  maxInstances: 3,
  enforceAppCheck: runWorkerEnforcesAppCheck,
  cors: true,
};

/** Manual runs for admins (custom claim `admin: true`). A rejected call runs nothing. */
export const runWorker = onCall(options, async (request) => {
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
