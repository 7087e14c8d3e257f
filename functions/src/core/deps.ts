import type { Firestore } from "firebase-admin/firestore";
import type { Clock } from "./clock";
import type { WorkerConfig } from "./config";
import type { Logger } from "./logger";

/** What every worker receives instead of reaching for globals. */
export interface WorkerDeps {
  db: Firestore;
  clock: Clock;
  logger: Logger;
  config: WorkerConfig;
}
