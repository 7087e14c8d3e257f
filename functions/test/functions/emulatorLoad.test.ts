/**
 * firebase-tools' own functions emulator (Node only, no Java) loads every function of the build, as
 * `firebase emulators:start` does on a fresh clone: non-interactively (no stdin, CI=true), offline,
 * with the committed .env files. The repository's firebase.json `functions` entry is used as is; only
 * the emulator ports are moved to free ones, in a copy beside it, so parallel runs do not collide.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { freePort } from "../../dev/emulator";

const FUNCTIONS_DIR = join(__dirname, "../..");
const REPO = join(FUNCTIONS_DIR, "..");
const FIREBASE = join(FUNCTIONS_DIR, "node_modules/.bin/firebase");
/** Every function the build exports (discovery.test.ts checks each one's trigger). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const EXPORTS = Object.keys(require(join(FUNCTIONS_DIR, "lib/index.js")));

/** An HTTP proxy that answers nothing and counts what tried to go through it: any request to the outside. */
function networkTripwire(): Promise<{ server: Server; port: number; attempts: string[] }> {
  const attempts: string[] = [];
  const server = createServer((req, res) => {
    attempts.push(`${req.method} ${req.url}`);
    res.writeHead(502).end();
  });
  server.on("connect", (req, socket) => {
    attempts.push(`CONNECT ${req.url}`);
    socket.destroy();
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as { port: number }).port, attempts })));
}

let dir: string;
let tripwire: Awaited<ReturnType<typeof networkTripwire>>;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "emulator-load-"));
  tripwire = await networkTripwire();
});
afterAll(() => {
  tripwire.server.close();
  rmSync(dir, { recursive: true, force: true });
});

it("loads every exported function from the build, without a prompt or the network", async () => {
  const repoConfig = JSON.parse(readFileSync(join(REPO, "firebase.json"), "utf8"));
  const ports = { functions: await freePort(), hub: await freePort(), logging: await freePort(), eventarc: await freePort(), tasks: await freePort() };
  const emulators = Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, { host: "127.0.0.1", port }]));
  const functions = repoConfig.functions.map((f: { source: string }) => ({ ...f, source: relative(dir, join(REPO, f.source)), predeploy: undefined }));
  writeFileSync(join(dir, "firebase.json"), JSON.stringify({ functions, emulators: { ...emulators, ui: { enabled: false }, singleProjectMode: true } }));

  const proxy = `http://127.0.0.1:${tripwire.port}`;
  const script = `node -e "fetch('http://127.0.0.1:${ports.functions}/backends').then(r => r.text()).then(t => console.log('BACK' + 'ENDS=' + t))"`;
  const child = spawn(FIREBASE, ["emulators:exec", "--config", join(dir, "firebase.json"), "--project", "demo-workers", "--only", "functions", script], {
    cwd: dir,
    // firebase-tools asks the npm registry for the newest firebase-functions (`npm show`) when it loads a
    // codebase; offline, npm answers from its cache or not at all, and the load goes on.
    env: { ...process.env, CI: "true", npm_config_offline: "true", HTTP_PROXY: proxy, HTTPS_PROXY: proxy, http_proxy: proxy, https_proxy: proxy, NO_PROXY: "127.0.0.1,localhost,::1", no_proxy: "127.0.0.1,localhost,::1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c));
  child.stderr.on("data", (c: Buffer) => (output += c));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));

  expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining(`Loaded functions definitions from source: ${EXPORTS.join(", ")}.`) });
  const backends = JSON.parse(output.split("BACKENDS=")[1].split("\n")[0]);
  const loaded = backends.backends.flatMap((b: { functionTriggers: { name: string; region: string }[] }) => b.functionTriggers.map((t) => `${t.region}/${t.name}`));
  expect(loaded.sort()).toEqual(EXPORTS.map((name) => `us-central1/${name}`).sort());
  expect(output).not.toMatch(/prompt|Enter a value|Failed to load/i);
  expect(tripwire.attempts).toEqual([]);
});
