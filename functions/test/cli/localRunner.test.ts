import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { clearProject, emulatorHost, eventually, uniqueProjectId } from "../harness/firestore";

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

it("prints the emulator, project and S3 settings and an enqueue line that works, with no warnings, and stops on Ctrl-C", async () => {
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build:dev\` first (npm test does)`);
  // As a user runs it: without the test setup's switches for the AWS SDK's Node notice and the metadata lookup.
  const { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: _aws, METADATA_SERVER_DETECTION: _metadata, LOG_LEVEL: _level, ...userEnv } = process.env;
  const env = { ...userEnv, FIRESTORE_EMULATOR_HOST: emulatorHost(), GCLOUD_PROJECT: `${projectId}-run` };
  const child = spawn(process.execPath, [script], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c));
  child.stderr.on("data", (c: Buffer) => (stderr += c));
  const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
  try {
    await eventually(async () => stdout, (out) => /enqueue a mirror task/.test(out) && /\n\[local\] {3}FIRESTORE_EMULATOR_HOST=.* node -e .*\n/.test(out), 120_000, "the enqueue line");
    expect(stdout).toContain(`FIRESTORE_EMULATOR_HOST=${emulatorHost()} GCLOUD_PROJECT=${projectId}-run`);
    expect(stdout).toMatch(/ZATA_ENDPOINT=http:\/\/127\.0\.0\.1:\d+ ZATA_BUCKET=canvas-media ZATA_ACCESS_KEY_ID=S3RVER ZATA_SECRET_ACCESS_KEY=S3RVER/);

    const line = stdout.match(/\n\[local\] {3}(FIRESTORE_EMULATOR_HOST=.* node -e .*)\n/)![1];
    const enqueued = await new Promise<string>((resolve, reject) =>
      execFile("sh", ["-c", line], { cwd: join(__dirname, "../.."), env: userEnv }, (error, out) => (error ? reject(error) : resolve(out))),
    );
    const taskId = enqueued.match(/enqueued (\w+)/)![1];
    await eventually(async () => stdout, (out) => out.includes(`task.completed taskId=${taskId}`), 60_000, "the worker to complete the enqueued task");
  } finally {
    child.kill("SIGINT");
  }
  expect(await closed).toBe(0);
  expect(stderr).toBe("");
  await clearProject(`${projectId}-run`);
});
