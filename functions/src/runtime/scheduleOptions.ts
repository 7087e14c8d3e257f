import type { ScheduleOptions } from "firebase-functions/v2/scheduler";
import { functionsRegion } from "./params";

/**
 * Options every scheduled worker shares. One instance at a time: a run is a batch job, and two
 * overlapping runs are safe but do nothing faster. Schedules are read in UTC. Cloud Scheduler retries
 * a failed run `retryCount` times, first after `minBackoffSeconds`; each worker is safe to rerun.
 */
export function scheduleOptions(schedule: string, options: { retryCount: number; timeoutSeconds?: number }): ScheduleOptions {
  return { schedule, region: functionsRegion, timeZone: "Etc/UTC", maxInstances: 1, minBackoffSeconds: 300, ...options };
}
