import { MirrorQueueWorker } from "../core/mirror/queueWorker";
import { createStandaloneDeps, runUntilSignal } from "../runtime/standalone";

void runUntilSignal("mirrorQueueWorker", async () => {
  const deps = await createStandaloneDeps({ entryPoint: "mirrorQueueWorker", worker: "mirrorQueue" });
  const worker = new MirrorQueueWorker(deps);
  return { logger: deps.logger, done: worker.start(), stop: () => worker.stop() };
});
