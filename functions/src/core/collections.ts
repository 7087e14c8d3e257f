/** Collection names of docs/DATA_MODEL.md, plus the workers' private bookkeeping collections. */
export const COLLECTIONS = {
  users: "users",
  generationHistory: "generationHistory",
  historyItems: "items",
  mirrorQueue: "mirrorQueue",
  publicGenerations: "publicGenerations",
  signupImageCache: "signupImageCache",
  canvasProjects: "canvasProjects",
  elements: "elements",
  ops: "ops",
  snapshots: "snapshots",
  snapshotParts: "parts",
  canvasMedia: "canvasMedia",
  /** Tombstones of deleted canvas projects: a deleted project's id is never created again. */
  deletedCanvasProjects: "deletedCanvasProjects",
  /** Worker-private: one record per canvas project whose snapshot is failing (snapshots/failures.ts). */
  canvasSnapshotFailures: "canvasSnapshotFailures",
  /** Worker-written: who owned a gallery id whose mirror doc was removed (never given to another user). */
  publicGenerationOwners: "publicGenerationOwners",
  /** Worker-private: cursors and other small state docs. */
  workerState: "workerState",
} as const;

export const historyItemPath = (uid: string, historyId: string) =>
  `${COLLECTIONS.generationHistory}/${uid}/${COLLECTIONS.historyItems}/${historyId}`;
