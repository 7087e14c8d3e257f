/**
 * firebase-tools' own functions emulator (Node only, no Java) loads every function of the build, as
 * `firebase emulators:start` does on a fresh clone: non-interactively (no stdin, CI=true), offline,
 * with the committed .env files; and a schedule runs by hand through the route the README gives. The
 * repository's firebase.json `functions` entry is used as is; only the emulator ports are moved to
 * free ones, in a copy beside it, so parallel runs do not collide.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { deleteApp, initializeApp } from "firebase-admin/app";
import { FieldValue, getFirestore } from "firebase-admin/firestore";
import { freePort, stopProcessGroup } from "../../dev/emulator";
import { clearProject } from "../harness/firestore";
import { spawnOwnGroup } from "../harness/processes";

const FUNCTIONS_DIR = join(__dirname, "../..");
const REPO = join(FUNCTIONS_DIR, "..");
const FIREBASE = join(FUNCTIONS_DIR, "node_modules/.bin/firebase");
/** The project of .firebaserc, whose committed .env.demo-workers the emulator reads. */
const PROJECT = "demo-workers";
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
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as { port: number }).port, attempts })),
  );
}

let dir: string;
let tripwire: Awaited<ReturnType<typeof networkTripwire>>;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "emulator-load-"));
  tripwire = await networkTripwire();
});
/** firebase-tools runs still going: a test that failed or timed out stops them with all they started. */
const running = new Set<ChildProcess>();
afterEach(() => Promise.all([...running].map(stopProcessGroup)));
afterAll(() => {
  tripwire.server.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs `script` (a Node program) under `firebase emulators:exec --only functions`, with the
 * Firestore emulator of the test harness (FIRESTORE_EMULATOR_HOST, which the functions inherit).
 * Resolves with the exit code and everything printed; the script gets FUNCTIONS_PORT.
 */
async function execUnderFunctionsEmulator(script: string): Promise<{ code: number | null; output: string }> {
  const repoConfig = JSON.parse(readFileSync(join(REPO, "firebase.json"), "utf8"));
  const ports = {
    functions: await freePort(),
    hub: await freePort(),
    logging: await freePort(),
    eventarc: await freePort(),
    tasks: await freePort(),
  };
  const emulators = Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, { host: "127.0.0.1", port }]));
  const functions = repoConfig.functions.map((f: { source: string }) => ({
    ...f,
    source: relative(dir, join(REPO, f.source)),
    predeploy: undefined,
  }));
  writeFileSync(
    join(dir, "firebase.json"),
    JSON.stringify({ functions, emulators: { ...emulators, ui: { enabled: false }, singleProjectMode: true } }),
  );
  writeFileSync(join(dir, "script.js"), script);

  const proxy = `http://127.0.0.1:${tripwire.port}`;
  // In a process group of its own: `running` above stops firebase-tools and the function runtimes it started.
  const child = spawnOwnGroup(
    FIREBASE,
    [
      "emulators:exec",
      "--config",
      join(dir, "firebase.json"),
      "--project",
      PROJECT,
      "--only",
      "functions",
      `node ${join(dir, "script.js")}`,
    ],
    {
      cwd: dir,
      // firebase-tools asks the npm registry for the newest firebase-functions (`npm show`) when it loads a
      // codebase; offline, npm answers from its cache or not at all, and the load goes on.
      env: {
        ...process.env,
        FUNCTIONS_PORT: String(ports.functions),
        CI: "true",
        npm_config_offline: "true",
        HTTP_PROXY: proxy,
        HTTPS_PROXY: proxy,
        http_proxy: proxy,
        https_proxy: proxy,
        NO_PROXY: "127.0.0.1,localhost,::1",
        no_proxy: "127.0.0.1,localhost,::1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout!.on("data", (c: Buffer) => (output += c));
  child.stderr!.on("data", (c: Buffer) => (output += c));
  running.add(child);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  running.delete(child);
  return { code, output };
}

/** A firebase-tools start, a functions load and a stop: about 20-45 s measured here, far more on a loaded machine. */
const EXEC_TEST_MS = 300_000;

/** The line `script` printed after `label=`. */
const printed = (output: string, label: string) => output.split(`${label}=`)[1]?.split("\n")[0];

it(
  "loads every exported function from the build, without a prompt or the network",
  async () => {
    const { code, output } = await execUnderFunctionsEmulator(
      `fetch("http://127.0.0.1:" + process.env.FUNCTIONS_PORT + "/backends").then((r) => r.text()).then((t) => console.log("BACKENDS=" + t));`,
    );

    expect({ code, output }).toEqual({
      code: 0,
      output: expect.stringContaining(`Loaded functions definitions from source: ${EXPORTS.join(", ")}.`),
    });
    const backends = JSON.parse(printed(output, "BACKENDS"));
    const loaded = backends.backends.flatMap((b: { functionTriggers: { name: string; region: string }[] }) =>
      b.functionTriggers.map((t) => `${t.region}/${t.name}`),
    );
    expect(loaded.sort()).toEqual(EXPORTS.map((name) => `us-central1/${name}`).sort());
    expect(output).not.toMatch(/prompt|Enter a value|Failed to load/i);
    expect(tripwire.attempts).toEqual([]);
  },
  EXEC_TEST_MS,
);

/**
 * The README's way to run a schedule by hand: a POST to /<project>/<region>/<function>-0 on the
 * functions emulator (a 2nd-gen schedule is an HTTP function; the Pub/Sub emulator does not deliver
 * to it). No Pub/Sub or Firestore emulator of firebase-tools is running, so nothing else can have
 * run the sweep that completes the task.
 */
it(
  "runs a schedule by hand: a POST to the functions emulator's route for it runs mirrorQueueSweep once",
  async () => {
    const app = initializeApp({ projectId: PROJECT }, "scheduleByHand");
    const db = getFirestore(app);
    await clearProject(PROJECT);
    try {
      await db.doc("generationHistory/ana/items/by-hand").set({
        uid: "ana",
        prompt: "a lighthouse at dusk",
        model: "demo",
        generationType: "image",
        images: [{ id: "img-1", url: "https://cdn.example.com/by-hand.png" }],
        videos: [],
        isPublic: true,
        isDeleted: false,
        createdAt: FieldValue.serverTimestamp(),
        updatedAt: FieldValue.serverTimestamp(),
      });
      const task = await db
        .collection("mirrorQueue")
        .add({ op: "upsert", uid: "ana", historyId: "by-hand", status: "pending", createdAt: FieldValue.serverTimestamp() });

      const post = (name: string) =>
        `fetch("http://127.0.0.1:" + process.env.FUNCTIONS_PORT + "/${PROJECT}/us-central1/${name}", { method: "POST" })`;
      const { code, output } = await execUnderFunctionsEmulator(
        `(async () => {
        const sweep = await ${post("mirrorQueueSweep-0")};
        console.log("SWEEP=" + sweep.status);
        const wrong = await ${post("mirrorQueueSweep")};
        console.log("WRONG=" + wrong.status + " " + (await wrong.text()));
      })();`,
      );

      expect({ code, sweep: printed(output, "SWEEP") }).toEqual({ code: 0, sweep: "200" });
      expect((await task.get()).data()).toMatchObject({ status: "done", outcome: "published", attempts: 1 });
      expect((await db.doc("publicGenerations/by-hand").get()).get("mirrorTaskId")).toBe(task.id);
      // The name without its suffix: the emulator answers 404 with the names it serves, as the README says.
      expect(printed(output, "WRONG")).toMatch(
        /^404 Function us-central1-mirrorQueueSweep does not exist, valid functions are: .*us-central1-mirrorQueueSweep-0/,
      );
      expect(tripwire.attempts).toEqual([]);
    } finally {
      await clearProject(PROJECT);
      await deleteApp(app);
    }
  },
  EXEC_TEST_MS,
);
