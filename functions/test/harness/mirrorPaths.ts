import type { DocumentSnapshot, Firestore } from "firebase-admin/firestore";
import { documentCreatedEvent } from "../../dev/firestoreEvents";
import type { WorkerDeps } from "../../src/core/deps";
import { sweepMirrorQueue } from "../../src/core/mirror/sweep";
import { MirrorQueueWorker } from "../../src/core/mirror/queueWorker";
import { createTestFirestore, type TestFirestore } from "./firestore";
import { functionsRuntimeEnv } from "../../dev/functionsRuntime";

/**
 * The three ways a task gets processed, each as its entry point runs it: the deployed trigger,
 * called with the CloudEvent Eventarc delivers for the created doc; one run of the sweep; one poll of a standalone
 * worker. Where they differ (how they find a task), a test runs all three.
 */
export type MirrorPath = "trigger" | "sweep" | "worker";
export const MIRROR_PATHS: MirrorPath[] = ["trigger", "sweep", "worker"];
export const POLLING_PATHS: MirrorPath[] = ["sweep", "worker"];

export interface MirrorPaths {
  run(path: MirrorPath, taskId: string, deps: WorkerDeps): Promise<void>;
  /** The deployed trigger, called with the event of `snapshot`'s creation (`snapshot` as read). */
  fire(snapshot: DocumentSnapshot): Promise<void>;
}

/** The trigger runs as deployed: default app, configuration from params, for `projectId`. */
export async function mirrorPaths(db: Firestore, projectId: string): Promise<MirrorPaths> {
  Object.assign(process.env, functionsRuntimeEnv(projectId));
  const { onMirrorQueueTaskCreated } = await import("../../src/index");
  const fire = async (snapshot: DocumentSnapshot) => {
    await onMirrorQueueTaskCreated(documentCreatedEvent(snapshot, projectId) as never);
  };
  return {
    async run(path, taskId, deps) {
      if (path === "trigger") await fire(await db.doc(`mirrorQueue/${taskId}`).get());
      else if (path === "sweep") await sweepMirrorQueue(deps, { limit: 100 });
      else await new MirrorQueueWorker(deps).pollOnce();
    },
    fire,
  };
}

/** A test file's emulator project and mirror paths, each test starting from an empty project. */
export interface MirrorTestBed {
  fs: TestFirestore;
  paths: MirrorPaths;
}

/** Registers the file's hooks: a fresh project (`name` prefixes its id) with the three paths, cleared before each test. */
export function useMirrorTestBed(name: string): MirrorTestBed {
  const bed = {} as MirrorTestBed;
  beforeAll(async () => {
    bed.fs = createTestFirestore(name);
    bed.paths = await mirrorPaths(bed.fs.db, bed.fs.projectId);
  });
  beforeEach(() => bed.fs.clear());
  afterAll(() => bed.fs.close());
  return bed;
}
