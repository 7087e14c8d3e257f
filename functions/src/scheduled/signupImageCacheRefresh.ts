import { onSchedule } from "firebase-functions/v2/scheduler";
import { refreshSignupImageCache } from "../core/signupCache/refreshSignupImageCache";
import { deployedDeps } from "../runtime/deployed";

export const signupImageCacheRefresh = onSchedule({ schedule: "every 24 hours" }, async () => {
  await refreshSignupImageCache(deployedDeps("signupImageCache"));
});
