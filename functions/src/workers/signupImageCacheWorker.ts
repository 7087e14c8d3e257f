import { PeriodicWorker } from "../core/periodicWorker";
import { refreshSignupImageCache } from "../core/signupCache/refreshSignupImageCache";
import { createStandaloneDeps, runUntilSignal } from "../runtime/standalone";

void runUntilSignal("signupImageCacheWorker", () => {
  const deps = createStandaloneDeps("signupImageCache");
  const worker = new PeriodicWorker("signupImageCache", () => refreshSignupImageCache(deps), deps.config.SIGNUP_CACHE_REFRESH_MS, deps.logger);
  return { logger: deps.logger, done: worker.start(), stop: () => worker.stop() };
});
