import { onSchedule } from "firebase-functions/v2/scheduler";
import { refreshSignupImageCache } from "../core/signupCache/refreshSignupImageCache";
import { deployedDeps } from "../runtime/deployed";
import { scheduleOptions } from "../runtime/scheduleOptions";

export const signupImageCacheRefresh = onSchedule(scheduleOptions("every 24 hours", { retryCount: 2 }), async () => {
  await refreshSignupImageCache(deployedDeps({ entryPoint: "signupImageCacheRefresh", worker: "signupImageCache" }));
});
