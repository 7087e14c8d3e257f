import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { deleteApp, initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { freePort } from "../../dev/emulator";
import { clearProject, emulatorHost, eventually, eventuallyWhileProgressing, uniqueProjectId } from "../harness/firestore";
import { measureStart, Pace } from "../harness/processes";

/** The README's first command, `npm run local -- --once`, as a process: it ends with the summary and exit 0. */
const script = join(__dirname, "../../build/dev/local.js");
const projectId = uniqueProjectId("local");
/**
 * Deadlines (Pace): a run of local.js that is starting, or working, changes its output or its tasks within this
 * many ms; the heartbeat interval it gives its workers (dev/local.ts) is added where a heartbeat is what moves.
 */
let movesMs: number;
const LOCAL_HEARTBEAT_MS = 15_000;
beforeAll(async () => {
  movesMs = Pace.STALL_STARTS * (await measureStart());
});
afterAll(() => clearProject(projectId));

it("seeds, runs every worker, prints the summary and exits 0 with --once", async () => {
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build:dev\` first (npm test does)`);
  const child = spawn(process.execPath, [script, "--once"], {
    env: { ...process.env, FIRESTORE_EMULATOR_HOST: emulatorHost(), GCLOUD_PROJECT: projectId, LOG_LEVEL: "INFO" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c));
  child.stderr.on("data", (c: Buffer) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));

  expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
  expect(stdout).toMatch(
    /summary: 32 tasks mirrored, 1 failed \(invalid task: op: op must be "upsert", "update" or "remove"\); 23 public generations; 2 snapshots made; 3 media deleted, 169500 bytes freed; 15 images cached/,
  );
  expect(stdout).toContain("mirrorQueueWorker: worker.stopped");
  expect(stdout).toContain("signupImageCacheWorker: worker.stopped");
});

it("prints the emulator, project and S3 settings and an enqueue line that works, runs the README's Try-it commands as it says, with no warnings, and stops on Ctrl-C", async () => {
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build:dev\` first (npm test does)`);
  // As a user runs it: without the test setup's switches for the AWS SDK's Node notice and the metadata lookup.
  const {
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: _aws,
    METADATA_SERVER_DETECTION: _metadata,
    LOG_LEVEL: _level,
    ...userEnv
  } = process.env;
  const env = { ...userEnv, FIRESTORE_EMULATOR_HOST: emulatorHost(), GCLOUD_PROJECT: `${projectId}-run` };
  /** The README's "Try it" block, its `export` line pointed at this run's emulator and project. */
  const readmeTryIt = () => {
    const readme = readFileSync(join(__dirname, "../../../README.md"), "utf8");
    const block = readme.split("### Try it")[1].split("```bash\n")[1].split("\n```")[0];
    expect(block).toMatch(/^export FIRESTORE_EMULATOR_HOST=\S+ GCLOUD_PROJECT=demo-workers\n/);
    return block.replace(/^export .*\n/, `export FIRESTORE_EMULATOR_HOST=${emulatorHost()} GCLOUD_PROJECT=${projectId}-run\n`);
  };
  const child = spawn(process.execPath, [script], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c));
  child.stderr.on("data", (c: Buffer) => (stderr += c));
  const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
  try {
    const enqueueLine = /\n\[local\] {3}FIRESTORE_EMULATOR_HOST=.* node -e .*\n/;
    // Its stderr and exit code in the failure message, should it end or complain instead.
    await eventuallyWhileProgressing(
      async () => ({ stdout, stderr, exitCode: child.exitCode }),
      (now) => now.exitCode !== null || enqueueLine.test(now.stdout),
      movesMs,
      "the enqueue line",
    );
    expect(stdout).toMatch(enqueueLine);
    expect(stdout).toContain(`FIRESTORE_EMULATOR_HOST=${emulatorHost()} GCLOUD_PROJECT=${projectId}-run`);
    expect(stdout).toMatch(
      /ZATA_ENDPOINT=http:\/\/127\.0\.0\.1:\d+ ZATA_BUCKET=canvas-media ZATA_ACCESS_KEY_ID=S3RVER ZATA_SECRET_ACCESS_KEY=S3RVER/,
    );

    const line = stdout.match(/\n\[local\] {3}(FIRESTORE_EMULATOR_HOST=.* node -e .*)\n/)![1];
    const enqueued = await new Promise<string>((resolve, reject) =>
      execFile("sh", ["-c", line], { cwd: join(__dirname, "../.."), env: userEnv }, (error, out) => (error ? reject(error) : resolve(out))),
    );
    const taskId = enqueued.match(/enqueued (\w+)/)![1];
    await eventually(
      async () => stdout,
      (out) => out.includes(`task.completed taskId=${taskId}`),
      movesMs,
      "the worker to complete the enqueued task",
    );

    // The README's "Try it" commands, as written there, with this run's host and project for its `export` line.
    const tryIt = readmeTryIt();
    const created = await new Promise<string>((resolve, reject) =>
      execFile("sh", ["-c", tryIt], { cwd: join(__dirname, "../.."), env: userEnv }, (error, out) =>
        error ? reject(error) : resolve(out),
      ),
    );
    const tryTaskId = created.match(/task (\w+)/)![1];
    await eventually(
      async () => stdout,
      (out) => out.includes(`task.completed taskId=${tryTaskId} op=upsert historyId=my-first outcome=published attempt=1`),
      movesMs,
      "the README's task to complete",
    );
    const app = initializeApp({ projectId: `${projectId}-run` }, `${projectId}-run`);
    try {
      const db = getFirestore(app);
      expect((await db.doc(`mirrorQueue/${tryTaskId}`).get()).data()).toMatchObject({ status: "done", outcome: "published" });
      expect((await db.doc("publicGenerations/my-first").get()).data()).toMatchObject({
        uid: "ana",
        historyId: "my-first",
        mirrorTaskId: tryTaskId,
        prompt: "a lighthouse at dusk",
        createdBy: { uid: "ana", username: "ana", displayName: "Ana" },
      });
    } finally {
      await deleteApp(app);
    }
  } finally {
    child.kill("SIGINT");
  }
  expect(await closed).toBe(0);
  expect(stderr).toBe("");
  await clearProject(`${projectId}-run`);
});

/**
 * Every live process whose environment holds `LOCAL_RUN_TAG=<tag>`: a run of local.js started with
 * that tag, and everything it started (children inherit the environment), wherever they were reparented.
 */
function tagged(tag: string): { pid: number; command: string }[] {
  const marker = `LOCAL_RUN_TAG=${tag}`;
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .flatMap((pid) => {
      try {
        if (!readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(marker)) return [];
        return [{ pid: Number(pid), command: readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").slice(0, 200) }];
      } catch {
        return []; // gone, or not ours to read
      }
    });
}

/** Ends whatever a failed test left of its run: only processes carrying that run's tag, which this file started. */
function killTagged(tag: string): void {
  for (const { pid } of tagged(tag)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

describe("nothing npm run local starts outlives it, however it ends", () => {
  const tags: string[] = [];
  afterEach(() => tags.splice(0).forEach(killTagged));

  /**
   * Starts local.js as a user's `npm run local` does (its own emulator unless `env` names one, the
   * log level of `env` or the default), tagged; resolves once the workers run.
   */
  async function startLocal(env: Record<string, string>): Promise<{ child: ChildProcess; tag: string; output: () => string }> {
    const tag = randomUUID();
    tags.push(tag);
    const { FIRESTORE_EMULATOR_HOST: _host, LOG_LEVEL: _level, ...userEnv } = process.env;
    const child = spawn(process.execPath, [script], { env: { ...userEnv, ...env, LOCAL_RUN_TAG: tag }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout!.on("data", (c: Buffer) => (output += c));
    child.stderr!.on("data", (c: Buffer) => (output += c));
    await eventuallyWhileProgressing(
      async () => ({ output, exitCode: child.exitCode }),
      (now) => now.output.includes("workers running") || now.exitCode !== null,
      movesMs,
      "local.js to start its workers",
    );
    expect(output).toContain("workers running");
    return { child, tag, output: () => output };
  }

  const commands = (tag: string) => tagged(tag).map((p) => p.command);
  const allGone = (tag: string) =>
    eventuallyWhileProgressing(
      async () => tagged(tag),
      (left) => left.length === 0,
      // Its output closed, local.js meets it at the next line: a worker's heartbeat at the latest.
      LOCAL_HEARTBEAT_MS + movesMs,
      "every process of the run to end",
    );

  it("stops its emulator and workers when killed with SIGKILL", async () => {
    const { child, tag } = await startLocal({ GCLOUD_PROJECT: "demo-local-sigkill" });
    const before = commands(tag);
    expect(before).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^java /),
        expect.stringContaining("mirrorQueueWorker.js"),
        expect.stringContaining("signupImageCacheWorker.js"),
      ]),
    );
    child.kill("SIGKILL");
    await allGone(tag);
  });

  it("stops its workers and exits 0 on SIGHUP (a closed terminal), with workers that log only warnings", async () => {
    const projectId = uniqueProjectId("local-hup");
    // The workers log no `worker.started` at this level: local.js must know they run all the same.
    const { child, tag } = await startLocal({ FIRESTORE_EMULATOR_HOST: emulatorHost(), GCLOUD_PROJECT: projectId, LOG_LEVEL: "WARNING" });
    expect(commands(tag)).toEqual(
      expect.arrayContaining([expect.stringContaining("mirrorQueueWorker.js"), expect.stringContaining("signupImageCacheWorker.js")]),
    );
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    child.kill("SIGHUP");
    expect(await exited).toBe(0);
    await allGone(tag);
    await clearProject(projectId);
  });

  it("stops its workers when its output is closed (`npm run local | sed /workers running/q`)", async () => {
    const projectId = uniqueProjectId("local-pipe");
    const tag = randomUUID();
    tags.push(tag);
    // The default log level: the workers' heartbeats (every 15 s) are the lines that meet the closed pipe.
    const { LOG_LEVEL: _level, ...userEnv } = process.env;
    const env = { ...userEnv, FIRESTORE_EMULATOR_HOST: emulatorHost(), GCLOUD_PROJECT: projectId, LOCAL_RUN_TAG: tag };
    const shell = spawn("sh", ["-c", `"${process.execPath}" "${script}" | sed "/workers running/q"`], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    shell.stdout.on("data", (c: Buffer) => (output += c));
    expect(await new Promise<number | null>((resolve) => shell.on("close", resolve))).toBe(0);
    expect(output).toContain("workers running");
    // local.js meets the closed pipe at its next line (a worker's heartbeat at the latest, every 15 s).
    await allGone(tag);
    await clearProject(projectId);
  });
});

describe("npm run local checks its settings before it starts anything", () => {
  /** Runs local.js without FIRESTORE_EMULATOR_HOST unless `env` sets one: a run that passed its checks would start an emulator. */
  async function runLocal(env: Record<string, string>) {
    const { FIRESTORE_EMULATOR_HOST: _host, ...userEnv } = process.env;
    const child = spawn(process.execPath, [script], { env: { ...userEnv, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c));
    child.stderr.on("data", (c: Buffer) => (stderr += c));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    return { code, stdout, stderr };
  }

  it.each([
    [{ LOG_LEVEL: "bogus" }, "[local] invalid worker configuration: LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"],
    [{ MIRROR_POOL_SIZE: "0" }, "[local] invalid worker configuration: MIRROR_POOL_SIZE must be a number from 1 to 100 (digits only)"],
    [{ FIRESTORE_EMULATOR_HOST: "http://127.0.0.1:8080" }, "[local] FIRESTORE_EMULATOR_HOST must be host:port"],
    [{ GCLOUD_PROJECT: "Demo Workers" }, "[local] GCLOUD_PROJECT must be a project id"],
  ])("exits 2 with one line, having started nothing, for %j", async (env, message) => {
    const r = await runLocal(env);
    expect(r).toEqual({ code: 2, stdout: "", stderr: expect.stringContaining(message) });
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("exits 2 with a hint naming FIRESTORE_EMULATOR_HOST when nothing listens there", async () => {
    const host = `127.0.0.1:${await freePort()}`;
    const r = await runLocal({ FIRESTORE_EMULATOR_HOST: host });
    expect(r).toEqual({
      code: 2,
      stdout: "",
      stderr: expect.stringContaining(`[local] cannot connect to the Firestore emulator at FIRESTORE_EMULATOR_HOST=${host} (ECONNREFUSED)`),
    });
  });
});
