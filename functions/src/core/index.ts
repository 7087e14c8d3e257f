/** The core API: what the app's backend and the entry points call. */
export { processMirrorTask, type TaskResult, type ProcessTaskOptions } from "./mirror/processMirrorTask";
/** The sweep; also under the names the app's API already calls, `processPendingTasks` and `MirrorRunReport`. */
export {
  sweepMirrorQueue,
  sweepMirrorQueue as processPendingTasks,
  type MirrorSweepReport,
  type MirrorSweepReport as MirrorRunReport,
} from "./mirror/sweep";
export { getQueueStatus, type QueueStatus } from "./mirror/queueStatus";
export { MirrorQueueWorker } from "./mirror/queueWorker";
export { parseWorkerConfig, parseStorageConfig, type WorkerConfig, type StorageConfig } from "./config";
export { createLogger, type Logger } from "./logger";
export { systemClock, type Clock } from "./clock";
export type { WorkerDeps } from "./deps";
export { loadProject, type LoadedProject } from "./snapshots/loadProject";
export { processSnapshots, type SnapshotReport, type SnapshotOptions } from "./snapshots/processSnapshots";
export { runMediaGC, type MediaGCReport, type MediaGCOptions } from "./mediaGC/runMediaGC";
export { storageKeyProblem } from "./mediaGC/storageKeys";
export { refreshSignupImageCache, type SignupCacheReport } from "./signupCache/refreshSignupImageCache";
export { requeueDeadLetters, type RequeueReport } from "./mirror/requeue";
export { getSystemHealth, type SystemHealth } from "./health/systemHealth";
