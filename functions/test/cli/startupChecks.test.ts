/**
 * Standalone workers and the CLI refuse to start (exit 2, one line with a hint) when Firestore cannot
 * be reached: no emulator answering at FIRESTORE_EMULATOR_HOST, another server there, a malformed
 * host or project id, or no project and credentials. Before, the worker logged a poll failure every
 * 15 s forever, the CLI was silent for 48 s, and a malformed value ended in a stack trace.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../dev/emulator";
import { startS3Server, type TestS3Server } from "../../dev/s3Server";
import { killAll, LIB, runCli, startWorkerProcess, type WorkerProcess } from "../harness/processes";

const started: WorkerProcess[] = [];
afterEach(() => killAll(started.splice(0)));

/** A TCP port that accepts connections and never answers: an emulator host that hangs. */
let silent: Server;
const silentConnections = new Set<Socket>();
let silentHost: string;
/** Servers that answer HTTP, but are not Firestore: what a wrong port most often reaches. */
let notFound: Server;
let s3: TestS3Server;
const otherServers: Record<string, string> = {};
/** A port nothing listens on. */
let closedHost: string;
let home: string;
beforeAll(async () => {
  // It reads what it is sent (and so sees a client hang up), never answers, and ends what is left at afterAll.
  silent = createServer((socket) => {
    silentConnections.add(socket.on("close", () => silentConnections.delete(socket)));
    socket.resume();
  });
  const port = await freePort();
  await new Promise<void>((resolve) => silent.listen(port, "127.0.0.1", resolve));
  silentHost = `127.0.0.1:${port}`;
  notFound = createHttpServer((_, res) => res.writeHead(404, { "content-type": "text/html" }).end("<h1>Not Found</h1>"));
  await new Promise<void>((resolve) => notFound.listen(0, "127.0.0.1", resolve));
  otherServers["an HTTP server answering 404"] = `127.0.0.1:${(notFound.address() as { port: number }).port}`;
  s3 = await startS3Server("startup-checks");
  otherServers["the local S3 server"] = `127.0.0.1:${s3.port}`;
  closedHost = `127.0.0.1:${await freePort()}`;
  home = mkdtempSync(join(tmpdir(), "no-credentials-"));
});
afterAll(async () => {
  for (const socket of silentConnections) socket.destroy();
  silent.close();
  notFound.close();
  await s3.dispose();
  rmSync(home, { recursive: true, force: true });
});

/** Malformed values that the Firestore clients would only reject later, with a stack. */
const malformed: [string, Record<string, string>, string][] = [
  [
    "a URL for the emulator host",
    { FIRESTORE_EMULATOR_HOST: "http://127.0.0.1:18080" },
    "FIRESTORE_EMULATOR_HOST must be host:port, e.g. 127.0.0.1:8080 (no http://, no path)",
  ],
  ["a blank emulator host", { FIRESTORE_EMULATOR_HOST: " " }, "FIRESTORE_EMULATOR_HOST must be host:port"],
  ["an emulator host without a port", { FIRESTORE_EMULATOR_HOST: "127.0.0.1" }, "FIRESTORE_EMULATOR_HOST must be host:port"],
  [
    "a project id with spaces",
    { GCLOUD_PROJECT: "Bad Project!" },
    "GCLOUD_PROJECT must be a project id: lowercase letters, digits and hyphens",
  ],
  ["a project id with a non-ASCII letter", { GCLOUD_PROJECT: "\u00fc-proj" }, "GCLOUD_PROJECT must be a project id"],
];

/** One line on stderr, no stack: what a user sees. */
const oneLine = (text: string) => text.split("\n").filter((l) => l.trim());

/** No emulator, no project, no Application Default Credentials (an empty HOME), no metadata server. */
const noProject = () => ({
  FIRESTORE_EMULATOR_HOST: "",
  GCLOUD_PROJECT: "",
  GOOGLE_CLOUD_PROJECT: "",
  GOOGLE_APPLICATION_CREDENTIALS: "",
  HOME: home,
  METADATA_SERVER_DETECTION: "none",
});

describe.each(["mirrorQueueWorker.js", "signupImageCacheWorker.js"])("%s", (script) => {
  it("exits 2 with a hint when the emulator at FIRESTORE_EMULATOR_HOST does not answer", async () => {
    const w = startWorkerProcess(script, "demo-startup", { FIRESTORE_EMULATOR_HOST: silentHost });
    started.push(w);
    expect((await w.exited).code).toBe(2);
    expect(w.text.join("\n")).toContain(`the Firestore emulator at FIRESTORE_EMULATOR_HOST=${silentHost} did not answer within 5 s`);
  });

  it("exits 2 saying it cannot connect, not that nothing answered in time, when nothing listens there", async () => {
    const w = startWorkerProcess(script, "demo-startup", { FIRESTORE_EMULATOR_HOST: closedHost });
    started.push(w);
    expect((await w.exited).code).toBe(2);
    expect(w.text).toEqual([
      expect.stringContaining(`cannot connect to the Firestore emulator at FIRESTORE_EMULATOR_HOST=${closedHost} (ECONNREFUSED): start it`),
    ]);
  });

  it.each(["an HTTP server answering 404", "the local S3 server"])(
    "exits 2 with a hint naming FIRESTORE_EMULATOR_HOST when it points at %s",
    async (server) => {
      const host = otherServers[server];
      const w = startWorkerProcess(script, "demo-startup", { FIRESTORE_EMULATOR_HOST: host });
      started.push(w);
      expect((await w.exited).code).toBe(2);
      expect(w.text).toEqual([
        expect.stringMatching(
          new RegExp(
            `^${script.replace(".js", "")}: FIRESTORE_EMULATOR_HOST=${host} answers HTTP \\d+ \\(.+\\), not as a Firestore emulator does: set FIRESTORE_EMULATOR_HOST to the Firestore emulator's host:port`,
          ),
        ),
      ]);
    },
  );

  it.each(malformed)("exits 2 with one line, no stack, for %s", async (_, env, message) => {
    const w = startWorkerProcess(script, "demo-startup", env);
    started.push(w);
    expect((await w.exited).code).toBe(2);
    expect(w.text).toEqual([expect.stringContaining(message)]);
  });

  it("exits 2 with a hint when no project or credentials can be found", async () => {
    const w = startWorkerProcess(script, "", noProject());
    started.push(w);
    expect((await w.exited).code).toBe(2);
    expect(w.text.join("\n")).toMatch(
      /cannot reach Firestore \(.+\): set FIRESTORE_EMULATOR_HOST=host:port for the emulator, or GCLOUD_PROJECT=/,
    );
  });

  it("refuses an unknown LOG_LEVEL like any other bad setting", async () => {
    const w = startWorkerProcess(script, "demo-startup", { LOG_LEVEL: "LOUD" });
    started.push(w);
    expect((await w.exited).code).toBe(2);
    expect(w.text.join("\n")).toContain("LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR");
  });

  it("refuses an integer setting written in another base", async () => {
    const w = startWorkerProcess(script, "demo-startup", { MIRROR_BATCH_LIMIT: "0b11" });
    started.push(w);
    expect((await w.exited).code).toBe(2);
    expect(w.text).toEqual([expect.stringContaining("MIRROR_BATCH_LIMIT must be a number from 1 to 500 (digits only)")]);
  });
});

describe("the CLI", () => {
  it("exits 2 with a hint when the emulator does not answer", async () => {
    const r = await runCli(["status"], "demo-startup", { FIRESTORE_EMULATOR_HOST: silentHost });
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: "" });
    expect(r.stderr).toContain("did not answer within 5 s");
  });

  it.each(["an HTTP server answering 404", "the local S3 server"])(
    "exits 2 with a hint naming FIRESTORE_EMULATOR_HOST when it points at %s",
    async (server) => {
      const r = await runCli(["status"], "demo-startup", { FIRESTORE_EMULATOR_HOST: otherServers[server] });
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: "" });
      expect(oneLine(r.stderr)).toEqual([expect.stringContaining(`FIRESTORE_EMULATOR_HOST=${otherServers[server]} answers HTTP`)]);
    },
  );

  it.each(malformed)("exits 2 with one line, no stack, for %s", async (_, env, message) => {
    const r = await runCli(["status"], "demo-startup", env);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: "" });
    expect(oneLine(r.stderr)).toEqual([expect.stringMatching(/^workers: /)]);
    expect(r.stderr).toContain(message);
  });

  it("exits 2 with a hint when no project or credentials can be found", async () => {
    const r = await runCli(["status"], "", noProject());
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: "" });
    expect(r.stderr).toContain("GCLOUD_PROJECT=<project id> with Application Default Credentials");
  });
});

it("a worker whose start fails for another reason than a setting exits 1 with the error's stack, not its message alone", async () => {
  const standalone = join(LIB, "runtime/standalone.js");
  const script = `require(${JSON.stringify(standalone)}).runUntilSignal("someWorker", async function startTheWorker() { throw new Error("boom"); });`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  expect({ code, stderr }).toEqual({ code: 1, stderr: expect.stringMatching(/^someWorker: boom\nError: boom\n\s+at startTheWorker /) });
});
