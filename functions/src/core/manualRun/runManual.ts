import type { WorkerDeps } from "../deps";
import type { MediaStore } from "../storage/mediaStore";
import { runMediaGC } from "../mediaGC/runMediaGC";
import { processPendingTasks } from "../mirror/processPendingTasks";
import { getQueueStatus } from "../mirror/queueStatus";
import { refreshSignupImageCache } from "../signupCache/refreshSignupImageCache";
import { processSnapshots } from "../snapshots/processSnapshots";
import type { RunWorkerRequest } from "./request";

/**
 * Runs the worker a validated manual request names and returns its report. `mediaStore` is
 * called only by a GC that deletes (a dry run reads Firestore only), so a missing storage
 * setting fails only the runs that need storage, with the ConfigError naming it.
 */
export async function runManual(deps: WorkerDeps, mediaStore: () => MediaStore, request: RunWorkerRequest): Promise<unknown> {
  switch (request.worker) {
    case "mediaGC": {
      const { worker: _w, ...options } = request;
      return options.dryRun ? runMediaGC(deps, { ...options, dryRun: true }) : runMediaGC({ ...deps, store: mediaStore() }, options);
    }
    case "snapshots": {
      const { worker: _w, ...options } = request;
      return processSnapshots(deps, options);
    }
    case "signupImageCache":
      return refreshSignupImageCache(deps);
    case "mirrorQueue":
      return processPendingTasks(deps, { limit: request.limit ?? 100, workerId: "manual" });
    case "status":
      return getQueueStatus(deps.db, deps.clock.now(), { maxAttempts: deps.config.MIRROR_MAX_ATTEMPTS });
  }
}
