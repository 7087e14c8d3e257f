import { randomUUID } from "node:crypto";
import { HttpsError, onCall, type CallableOptions } from "firebase-functions/v2/https";
import { errorMessage, failureKind } from "../core/errors";
import { createLogger, type Logger } from "../core/logger";
import { parseRunWorkerRequest, type RunWorkerRequest } from "../core/manualRun/request";
import { runManual } from "../core/manualRun/runManual";
import { deployedDeps, deployedMediaStore } from "../runtime/deployed";
import { functionsLogSink } from "../runtime/functionsLogSink";
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
  const uid = request.auth.uid;
  const parsed = parseRunWorkerRequest(request.data);
  // Until the deps (and their log level) exist: a configuration error is logged all the same.
  const origin = { entryPoint: "runWorker", ...(parsed.ok ? { worker: parsed.request.worker } : {}) };
  let logger: Logger = createLogger({ sink: functionsLogSink, fields: origin });
  try {
    const deps = deployedDeps(origin);
    logger = deps.logger;
    if (!parsed.ok) {
      logger.warn("runWorker.rejected", { uid, error: parsed.error });
      throw new HttpsError("invalid-argument", parsed.error);
    }
    logger.info("runWorker.called", { uid, request: parsed.request });
    return (await runManual(deps, deployedMediaStore, parsed.request)).report;
  } catch (error) {
    throw answer(error, logger, uid, parsed.ok ? parsed.request : undefined);
  }
});

/**
 * The caller's error: a setting or the environment is wrong → `failed-precondition` naming it;
 * the request cannot succeed → `invalid-argument`; anything else → `internal` with a correlation
 * id, which the log line holding the error's stack carries too.
 */
function answer(error: unknown, logger: Logger, uid: string, request: RunWorkerRequest | undefined): HttpsError {
  if (error instanceof HttpsError) return error;
  const kind = failureKind(error);
  if (kind === "config") {
    logger.error("runWorker.refused", { uid, request, error });
    return new HttpsError("failed-precondition", errorMessage(error));
  }
  if (kind === "invalid") {
    logger.warn("runWorker.rejected", { uid, request, error });
    return new HttpsError("invalid-argument", errorMessage(error));
  }
  const correlationId = randomUUID();
  logger.error("runWorker.failed", { uid, request, correlationId, error });
  return new HttpsError(
    "internal",
    `the run failed unexpectedly; the function's logs have the details under correlationId ${correlationId}`,
    { correlationId },
  );
}
