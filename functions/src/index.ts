/** The deployed Cloud Functions (README, "Architecture"). Each is a thin entry point over the core. */
export { onMirrorQueueTaskCreated } from "./triggers/onMirrorQueueTaskCreated";
export { mirrorQueueSweep } from "./scheduled/mirrorQueueSweep";
export { signupImageCacheRefresh } from "./scheduled/signupImageCacheRefresh";
export { canvasMediaGC } from "./scheduled/canvasMediaGC";
export { canvasSnapshots } from "./scheduled/canvasSnapshots";
export { onCanvasProjectDeleted } from "./triggers/onCanvasProjectDeleted";
export { runWorker } from "./callable/runWorker";
