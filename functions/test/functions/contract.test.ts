/**
 * Every export of functions/src/index.ts is declared as CONTRACT.md says, read from the metadata
 * the firebase-functions SDK itself hands to `firebase deploy` (`__endpoint`).
 */
import * as functions from "../../src/index";

type Endpoint = {
  eventTrigger?: { eventType: string; eventFilterPathPatterns?: Record<string, string>; retry?: boolean };
  scheduleTrigger?: { schedule: string };
  callableTrigger?: Record<string, unknown>;
  secretEnvironmentVariables?: { key: string }[];
};

const endpoint = (name: string): Endpoint => (functions as unknown as Record<string, { __endpoint: Endpoint }>)[name].__endpoint;

const CONTRACT: Record<string, (e: Endpoint) => void> = {
  onMirrorQueueTaskCreated: (e) => {
    expect(e.eventTrigger?.eventType).toBe("google.cloud.firestore.document.v1.created");
    expect(e.eventTrigger?.eventFilterPathPatterns).toEqual({ document: "mirrorQueue/{taskId}" });
  },
  mirrorQueueSweep: (e) => expect(e.scheduleTrigger?.schedule).toBe("every 5 minutes"),
  signupImageCacheRefresh: (e) => expect(e.scheduleTrigger?.schedule).toBe("every 24 hours"),
  runWorker: (e) => {
    expect(e.callableTrigger).toBeDefined();
    expect(e.secretEnvironmentVariables?.map((s) => s.key).sort()).toEqual(["ZATA_ACCESS_KEY_ID", "ZATA_SECRET_ACCESS_KEY"]);
  },
  canvasSnapshots: (e) => expect(e.scheduleTrigger?.schedule).toBe("every 6 hours"),
  onCanvasProjectDeleted: (e) => {
    expect(e.eventTrigger?.eventType).toBe("google.cloud.firestore.document.v1.deleted");
    expect(e.eventTrigger?.eventFilterPathPatterns).toEqual({ document: "canvasProjects/{projectId}" });
    // Redelivered until the subcollections are gone; deleting them again is harmless.
    expect(e.eventTrigger?.retry).toBe(true);
  },
  canvasMediaGC: (e) => {
    expect(e.scheduleTrigger?.schedule).toBe("every 24 hours");
    expect(e.secretEnvironmentVariables?.map((s) => s.key).sort()).toEqual(["ZATA_ACCESS_KEY_ID", "ZATA_SECRET_ACCESS_KEY"]);
  },
};

describe("exported Cloud Functions", () => {
  it("are exactly the ones CONTRACT.md names", () => {
    expect(Object.keys(functions).sort()).toEqual(Object.keys(CONTRACT).sort());
  });

  it.each(Object.keys(CONTRACT))("%s has the trigger CONTRACT.md declares", (name) => {
    CONTRACT[name](endpoint(name));
  });
});

describe("the core API for the app", () => {
  it("is built to lib/core/index.js and exports loadProject(db, projectId)", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const core = require("../../lib/core/index.js");
    expect(typeof core.loadProject).toBe("function");
    expect(core.loadProject.length).toBe(2);
  });
});
