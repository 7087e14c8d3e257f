import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { emulatorHost, uniqueProjectId, clearProject } from "../harness/firestore";

/** The README's first command, `npm run local -- --once`, as a process: it ends with the summary and exit 0. */
const script = join(__dirname, "../../build/dev/local.js");
const projectId = uniqueProjectId("local");
afterAll(() => clearProject(projectId));

it("seeds, runs every worker, prints the summary and exits 0 with --once", async () => {
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build:dev\` first (npm test does)`);
  const child = spawn(process.execPath, [script, "--once"], { env: { ...process.env, FIRESTORE_EMULATOR_HOST: emulatorHost(), GCLOUD_PROJECT: projectId, LOG_LEVEL: "INFO" }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c));
  child.stderr.on("data", (c: Buffer) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));

  expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
  expect(stdout).toMatch(/summary: 32 tasks mirrored, 1 failed \(invalid task: op: op must be "upsert", "update" or "remove"\); 23 public generations; 2 snapshots made; 3 media deleted, 169500 bytes freed; 15 images cached/);
  expect(stdout).toContain("mirrorQueueWorker: worker.stopped");
  expect(stdout).toContain("signupImageCacheWorker: worker.stopped");
});
