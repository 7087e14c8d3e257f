import { PeriodicWorker } from "../core/periodicWorker";
import { refreshSignupImageCache } from "../core/signupCache/refreshSignupImageCache";
import { createStandaloneDeps, runUntilSignal } from "../runtime/standalone";

void runUntilSignal("signupImageCacheWorker", async () => {
  const deps = await createStandaloneDeps({ entryPoint: "signupImageCacheWorker", worker: "signupImageCache" });
  const { SIGNUP_CACHE_REFRESH_MS, WORKER_HEARTBEAT_MS } = deps.config;
  const worker = new PeriodicWorker("signupImageCache", () => refreshSignupImageCache(deps), SIGNUP_CACHE_REFRESH_MS, {
    ...deps,
    heartbeatMs: WORKER_HEARTBEAT_MS,
  });
  return { logger: deps.logger, done: worker.start(), stop: () => worker.stop() };
});
