/**
 * Standalone workers and the CLI refuse to start (exit 2, one line with a hint) when Firestore cannot
 * be reached: no emulator answering at FIRESTORE_EMULATOR_HOST, or no project and credentials.
 * Before, the worker logged a poll failure every 15 s forever and the CLI was silent for 48 s.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../dev/emulator";
import { killAll, runCli, startWorkerProcess, type WorkerProcess } from "../harness/processes";

const started: WorkerProcess[] = [];
afterEach(() => killAll(started.splice(0)));

/** A TCP port that accepts connections and never answers: an emulator host that hangs. */
let silent: Server;
let silentHost: string;
let home: string;
beforeAll(async () => {
  silent = createServer(() => undefined);
  const port = await freePort();
  await new Promise<void>((resolve) => silent.listen(port, "127.0.0.1", resolve));
  silentHost = `127.0.0.1:${port}`;
  home = mkdtempSync(join(tmpdir(), "no-credentials-"));
});
afterAll(() => {
  silent.close();
  rmSync(home, { recursive: true, force: true });
});

/** No emulator, no project, no Application Default Credentials (an empty HOME), no metadata server. */
const noProject = () => ({ FIRESTORE_EMULATOR_HOST: "", GCLOUD_PROJECT: "", GOOGLE_CLOUD_PROJECT: "", GOOGLE_APPLICATION_CREDENTIALS: "", HOME: home, METADATA_SERVER_DETECTION: "none" });

describe.each(["mirrorQueueWorker.js", "signupImageCacheWorker.js"])("%s", (script) => {
  it("exits 2 with a hint when the emulator at FIRESTORE_EMULATOR_HOST does not answer", async () => {
    const w = startWorkerProcess(script, "demo-startup", { FIRESTORE_EMULATOR_HOST: silentHost });
    started.push(w);
    expect((await w.exited).code).toBe(2);
    expect(w.text.join("\n")).toContain(`the Firestore emulator at FIRESTORE_EMULATOR_HOST=${silentHost} did not answer within 5 s`);
  });

  it("exits 2 with a hint when no project or credentials can be found", async () => {
    const w = startWorkerProcess(script, "", noProject());
    started.push(w);
    expect((await w.exited).code).toBe(2);
    expect(w.text.join("\n")).toMatch(/cannot reach Firestore \(.+\): set FIRESTORE_EMULATOR_HOST=host:port for the emulator, or GCLOUD_PROJECT=/);
  });

  it("refuses an unknown LOG_LEVEL like any other bad setting", async () => {
    const w = startWorkerProcess(script, "demo-startup", { LOG_LEVEL: "LOUD" });
    started.push(w);
    expect((await w.exited).code).toBe(2);
    expect(w.text.join("\n")).toContain("LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR");
  });
});

describe("the CLI", () => {
  it("exits 2 with a hint when the emulator does not answer", async () => {
    const r = await runCli(["status"], "demo-startup", { FIRESTORE_EMULATOR_HOST: silentHost });
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: "" });
    expect(r.stderr).toContain("did not answer within 5 s");
  });

  it("exits 2 with a hint when no project or credentials can be found", async () => {
    const r = await runCli(["status"], "", noProject());
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: "" });
    expect(r.stderr).toContain("GCLOUD_PROJECT=<project id> with Application Default Credentials");
  });
});
