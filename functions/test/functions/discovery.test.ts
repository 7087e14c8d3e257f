/**
 * What `firebase deploy` sees: the build is run through firebase-functions' own discovery (its
 * `firebase-functions` bin with FUNCTIONS_CONTROL_API=true serving /__/functions.yaml, as
 * firebase-tools starts it), and the manifest goes through firebase-tools' own code: the .env
 * loader, the manifest-to-build conversion and the non-interactive param resolution of a CI deploy.
 */
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { freePort, stopProcessGroup } from "../../dev/emulator";
import { eventually } from "../harness/firestore";
import { measureStart, Pace, spawnOwnGroup } from "../harness/processes";

/* eslint-disable @typescript-eslint/no-require-imports -- firebase-tools ships no types for its internals */
const { loadUserEnvs } = require("firebase-tools/lib/functions/env");
const { yamlToBuild } = require("firebase-tools/lib/deploy/functions/runtimes/discovery");
const { resolveBackend } = require("firebase-tools/lib/deploy/functions/build");
/* eslint-enable @typescript-eslint/no-require-imports */

const FUNCTIONS_DIR = join(__dirname, "../..");
const PROJECT = "demo-workers";
const ZATA_SECRETS = ["ZATA_ACCESS_KEY_ID", "ZATA_SECRET_ACCESS_KEY"];

/** How long the bin may take to serve its manifest: it loads the whole build, as a worker loads its part (Pace). */
let serveWithinMs: number;
beforeAll(async () => {
  serveWithinMs = Pace.STALL_STARTS * (await measureStart());
});

/** One line per exported function: what its trigger is, what it needs. Adding a function = adding its line. */
const EXPECTED: Record<string, Record<string, unknown>> = {
  onMirrorQueueTaskCreated: {
    firestore: "google.cloud.firestore.document.v1.created",
    document: "mirrorQueue/{taskId}",
    retry: false,
    secrets: [],
  },
  mirrorQueueSweep: { schedule: "every 5 minutes", timeZone: "Etc/UTC", retryCount: 0, secrets: [] },
  canvasSnapshots: { schedule: "every 6 hours", timeZone: "Etc/UTC", retryCount: 2, secrets: [] },
  canvasMediaGC: { schedule: "every 24 hours", timeZone: "Etc/UTC", retryCount: 2, secrets: ZATA_SECRETS },
  signupImageCacheRefresh: { schedule: "every 24 hours", timeZone: "Etc/UTC", retryCount: 2, secrets: [] },
  runWorker: { callable: true, secrets: ZATA_SECRETS },
  // Redelivered until the subcollections are gone; deleting them again is harmless.
  onCanvasProjectDeleted: {
    firestore: "google.cloud.firestore.document.v1.deleted",
    document: "canvasProjects/{projectId}",
    retry: true,
    secrets: [],
  },
};

type WireEndpoint = {
  region?: string | string[];
  maxInstances?: number | string | null;
  secretEnvironmentVariables?: { key: string }[];
  eventTrigger?: { eventType: string; eventFilterPathPatterns?: { document?: string }; retry?: boolean };
  scheduleTrigger?: { schedule: string; timeZone?: string; retryConfig?: { retryCount?: number } };
  callableTrigger?: object;
};
type Manifest = {
  specVersion: string;
  endpoints: Record<string, WireEndpoint>;
  params?: { name: string; type: string; description?: string }[];
  requiredAPIs?: unknown;
};

function describeEndpoint(e: WireEndpoint): Record<string, unknown> {
  const secrets = (e.secretEnvironmentVariables ?? []).map((s) => s.key).sort();
  if (e.eventTrigger) {
    return {
      firestore: e.eventTrigger.eventType,
      document: e.eventTrigger.eventFilterPathPatterns?.document,
      retry: e.eventTrigger.retry,
      secrets,
    };
  }
  if (e.scheduleTrigger) {
    return {
      schedule: e.scheduleTrigger.schedule,
      timeZone: e.scheduleTrigger.timeZone,
      retryCount: e.scheduleTrigger.retryConfig?.retryCount,
      secrets,
    };
  }
  return { callable: e.callableTrigger !== undefined, secrets };
}

/** The environment firebase-tools gives discovery for a project: the values of its .env files. */
const envFor = (projectId: string, alias?: string): Record<string, string> =>
  loadUserEnvs({
    functionsSource: FUNCTIONS_DIR,
    projectDir: join(FUNCTIONS_DIR, ".."),
    projectId,
    projectAlias: alias,
    isEmulator: false,
  });

/**
 * Runs the firebase-functions bin on lib/ as firebase-tools does and fetches its manifest: status, body,
 * and what the bin printed (firebase-tools shows its stderr to the user when discovery fails).
 */
async function discover(env: Record<string, string>): Promise<{ status: number; body: string; output: string }> {
  const port = await freePort();
  const child: ChildProcess = spawnOwnGroup(join(FUNCTIONS_DIR, "node_modules/.bin/firebase-functions"), [FUNCTIONS_DIR], {
    cwd: FUNCTIONS_DIR,
    env: {
      ...env,
      FUNCTIONS_CONTROL_API: "true",
      PORT: String(port),
      GCLOUD_PROJECT: env.GCLOUD_PROJECT ?? PROJECT,
      HOME: process.env.HOME,
      PATH: process.env.PATH,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (c: Buffer) => (output += c));
  child.stderr!.on("data", (c: Buffer) => (output += c));
  try {
    const res = await eventually(
      () => fetch(`http://127.0.0.1:${port}/__/functions.yaml`).catch(() => undefined),
      (r) => r !== undefined,
      serveWithinMs,
      "the firebase-functions bin to serve its manifest",
    );
    return { status: res!.status, body: await res!.text(), output };
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : error}\n${output}`, { cause: error });
  } finally {
    await stopProcessGroup(child);
  }
}

describe("discovery of the build, as firebase deploy runs it", () => {
  let manifest: Manifest;
  const userEnvs = envFor(PROJECT, "default");

  beforeAll(async () => {
    const { status, body } = await discover(userEnvs);
    expect({ status, body: status === 200 ? "" : body }).toEqual({ status: 200, body: "" });
    manifest = JSON.parse(body);
  });

  it("finds every exported function with its trigger, schedule and secrets", () => {
    const found = Object.fromEntries(Object.entries(manifest.endpoints).map(([name, e]) => [name, describeEndpoint(e)]));
    expect(found).toEqual(EXPECTED);
  });

  it("puts every function in the one region param and bounds its instances", () => {
    for (const [name, e] of Object.entries(manifest.endpoints)) {
      expect({ name, region: e.region }).toEqual({ name, region: "{{ params.FUNCTIONS_REGION }}" });
      expect({ name, maxInstances: typeof e.maxInstances }).toEqual({ name, maxInstances: "number" });
    }
  });

  it("describes every param and secret", () => {
    const params = manifest.params ?? [];
    expect(params.map((p) => p.name)).toEqual(expect.arrayContaining(["FUNCTIONS_REGION", ...ZATA_SECRETS]));
    for (const p of params) expect({ name: p.name, description: typeof p.description }).toEqual({ name: p.name, description: "string" });
  });

  it("resolves every param from the committed .env files without a prompt, as a non-interactive deploy does", async () => {
    const build = yamlToBuild(manifest, PROJECT, "us-central1", "nodejs22");
    // isEmulator only skips looking the secrets up in Secret Manager (network); the params are resolved as for a deploy.
    const { backend, envs } = await resolveBackend({
      build,
      firebaseConfig: { projectId: PROJECT },
      userEnvs,
      codebase: "default",
      nonInteractive: true,
      isEmulator: true,
    });
    const nonSecret = (manifest.params ?? []).filter((p) => p.type !== "secret").map((p) => p.name);
    for (const name of nonSecret) expect({ name, resolved: envs[name] !== undefined }).toEqual({ name, resolved: true });
    const regions = Object.values(backend.endpoints).flatMap((byId) =>
      Object.values(byId as Record<string, { region: string }>).map((e) => e.region),
    );
    expect(new Set(regions)).toEqual(new Set([userEnvs.FUNCTIONS_REGION]));
  });
});

describe("discovery refuses invalid deploy values before any function runs", () => {
  it("names ZATA_ENDPOINT and ZATA_BUCKET for a project that has not set them", async () => {
    const { status, body } = await discover(envFor("some-real-project"));
    expect(status).toBe(400);
    expect(body).toMatch(/ZATA_ENDPOINT is required; ZATA_BUCKET is required/);
  });

  it.each([
    ["MIRROR_MAX_ATTEMPTS", "0", "MIRROR_MAX_ATTEMPTS must be a number from 1 to 100 (digits only)"],
    ["MIRROR_MAX_ATTEMPTS", "1e3", "MIRROR_MAX_ATTEMPTS must be a number from 1 to 100 (digits only)"],
    ["MEDIA_GC_BATCH_SIZE", "0x10", "MEDIA_GC_BATCH_SIZE must be a number from 1 to 1000 (digits only)"],
    ["LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"],
    ["FUNCTIONS_REGION", "mars", "FUNCTIONS_REGION must be a Cloud Functions region"],
    ["RUNWORKER_ENFORCE_APP_CHECK", "yes", "RUNWORKER_ENFORCE_APP_CHECK must be true or false"],
    ["ZATA_FORCE_PATH_STYLE", "maybe", "ZATA_FORCE_PATH_STYLE must be true or false"],
  ])("names %s=%s", async (name, value, message) => {
    const { status, body } = await discover({ ...envFor(PROJECT, "default"), [name]: value });
    expect(status).toBe(400);
    expect(body).toContain(message);
  });

  it("prints one line naming every bad value and what it may be, with no stack or zod dump", async () => {
    const { status, body, output } = await discover({
      ...envFor(PROJECT, "default"),
      RUNWORKER_ENFORCE_APP_CHECK: "maybe",
      LOG_LEVEL: "bogus",
    });
    const line =
      "invalid deploy (functions/.env, functions/.env.<projectId>) configuration: RUNWORKER_ENFORCE_APP_CHECK must be true or false; " +
      "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR (any case; WARN for WARNING)";
    expect({ status, body }).toEqual({ status: 400, body: `Failed to generate manifest from function source: ${line}` });
    const printed = output.split("\n").filter((l) => l.trim() && !l.startsWith("Serving at port"));
    expect(printed).toEqual([`[ConfigError: ${line}]`]);
  });
});
