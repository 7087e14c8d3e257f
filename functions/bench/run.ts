/**
 * `npm run bench [-- options]`: throughput, round trips and billed Firestore operations of every
 * mirror path at production-like latency (a delay proxy in front of the emulator), poller latency,
 * and the GC, snapshot and heap sections. A full run writes docs/BENCHMARKS.md and
 * docs/benchmarks.json; a partial run (any selection, or a setting other than MEASURED_AS) writes its report under build/bench-results/
 * unless --write is given. `--help` lists the options.
 */
import { execFileSync } from "node:child_process";
import { cpus, loadavg, totalmem } from "node:os";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ensureEmulator } from "../dev/emulator";
import { startS3Server } from "../dev/s3Server";
import { createS3Client } from "../src/core/storage/s3Client";
import { heapBench } from "./heapBench";
import { latencyBench } from "./latencyBench";
import { mediaGCBench } from "./mediaGCBench";
import { mirrorBench, PATHS, type DelayResult } from "./mirrorBench";
import { installOpCounter } from "./opCounter";
import { PRICES } from "./pricing";
import { renderReport } from "./report";
import { snapshotBench } from "./snapshotBench";
import { stallBench } from "./stallBench";
import { log } from "./setup";

const SECTIONS = ["mirror", "latency", "stalls", "gc", "snapshots", "heap"] as const;
const HELP = `npm run bench -- [options]
  --only LIST        sections to run, of ${SECTIONS.join(",")} (default: all)
  --paths LIST       mirror paths, of ${PATHS.map((p) => p.id).join(",")} (default: all)
  --delay LIST       one-way delays in ms for the mirror and latency sections (default: 0,10)
  --repeat N         runs per measurement (default: 3)
  --tasks N          tasks seeded per mirror run (default: 2000)
  --max-seconds N    time cap of one mirror run (default: 20)
  --rate N           latency section: tasks/s enqueued (default: 10), --load-seconds N (default: 20)
  --heap-minutes N   heap section duration (default: 3)
  --note TEXT        a line about the run's conditions, printed at the top of the report
  --baseline FILE    a benchmarks.json from before a change: the report compares the seed-defaults worker with it
  --before DIR       a lib/ built from the code before a change: its seed-defaults worker is measured in this run too
                     (the path "before"), and the report compares with it rather than with --baseline
  --write            write docs/ even for a partial run
  --render           re-render docs/BENCHMARKS.md from docs/benchmarks.json and exit
Environment: BENCH_RPC_TRACE=FILE appends one line per RPC of every measured process to FILE (bench/opCounter.ts).`;

/** The measurement settings of a full run: a run with any other is partial, and does not write docs/ unless --write. */
const MEASURED_AS = {
  delay: "0,10",
  repeat: "3",
  tasks: "2000",
  "max-seconds": "20",
  rate: "10",
  "load-seconds": "20",
  "heap-minutes": "3",
} as const;

function options() {
  const { values } = parseArgs({
    options: {
      only: { type: "string" },
      paths: { type: "string" },
      delay: { type: "string", default: MEASURED_AS.delay },
      repeat: { type: "string", default: MEASURED_AS.repeat },
      tasks: { type: "string", default: MEASURED_AS.tasks },
      "max-seconds": { type: "string", default: MEASURED_AS["max-seconds"] },
      rate: { type: "string", default: MEASURED_AS.rate },
      "load-seconds": { type: "string", default: MEASURED_AS["load-seconds"] },
      "heap-minutes": { type: "string", default: MEASURED_AS["heap-minutes"] },
      note: { type: "string" },
      baseline: { type: "string" },
      before: { type: "string" },
      write: { type: "boolean", default: false },
      render: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  const list = (s: string | undefined) =>
    s
      ?.split(",")
      .map((x) => x.trim())
      .filter(Boolean);
  const number = (name: string, s: string) => {
    const n = Number(s);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number >= 0, got ${s}`);
    return n;
  };
  const only = list(values.only) ?? [...SECTIONS];
  for (const s of only) if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`--only: unknown section ${s}`);
  const paths = list(values.paths);
  for (const p of paths ?? []) if (p !== "before" && !PATHS.some((x) => x.id === p)) throw new Error(`--paths: unknown path ${p}`);
  if (values.before && !existsSync(join(values.before, "workers/mirrorQueueWorker.js")))
    throw new Error(`--before: ${values.before} holds no workers/mirrorQueueWorker.js`);
  const delays = list(values.delay)!.map((d) => number("delay", d));
  const partial =
    Boolean(values.only || values.paths) ||
    Object.entries(MEASURED_AS).some(([name, value]) => values[name as keyof typeof MEASURED_AS] !== value);
  return {
    ...values,
    only,
    paths,
    delays,
    partial,
    repeat: Math.max(1, Math.round(number("repeat", values.repeat))),
    tasks: number("tasks", values.tasks),
    maxSeconds: number("max-seconds", values["max-seconds"]),
    rate: number("rate", values.rate),
    loadSeconds: number("load-seconds", values["load-seconds"]),
    heapMinutes: number("heap-minutes", values["heap-minutes"]),
  };
}

const docsDir = join(__dirname, "../../../docs");

function gitCommit(): string {
  try {
    const dirty = execFileSync("git", ["status", "--porcelain"], { encoding: "utf8" }).trim() ? " with uncommitted changes" : "";
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim() + dirty;
  } catch {
    return "unknown";
  }
}

/** The seed-defaults worker's median tasks/s by delay, from an earlier run's benchmarks.json. */
function baselineOf(file: string): { date: string; defaults: Record<string, number> } {
  const earlier = JSON.parse(readFileSync(file, "utf8")) as { date: string; mirror?: DelayResult[] };
  const defaults: Record<string, number> = {};
  for (const d of earlier.mirror ?? []) {
    const path = d.paths.find((p) => p.id === "defaults");
    if (path) defaults[String(d.oneWayDelayMs)] = path.tasksPerSecond.median;
  }
  if (!Object.keys(defaults).length) throw new Error(`--baseline: ${file} has no seed-defaults mirror results`);
  return { date: earlier.date, defaults };
}

/** Bad arguments: one line and exit code 2, nothing run. */
function optionsOrExit(): ReturnType<typeof options> {
  try {
    return options();
  } catch (error) {
    process.stderr.write(`[bench] ${error instanceof Error ? error.message : String(error)} (see --help)\n`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const o = optionsOrExit();
  if (o.help) return void process.stdout.write(`${HELP}\n`);
  if (o.render) {
    // Re-renders the report from the last run's numbers, e.g. after a change to its text.
    writeFileSync(join(docsDir, "BENCHMARKS.md"), renderReport(JSON.parse(readFileSync(join(docsDir, "benchmarks.json"), "utf8"))));
    return;
  }
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  process.env.METADATA_SERVER_DETECTION ??= "none"; // no metadata server off Google Cloud; inherited by the workers
  const external = Boolean(process.env.FIRESTORE_EMULATOR_HOST);
  let emulator = await ensureEmulator();
  // Every section but the first on an emulator of its own (when this run started it): an emulator
  // that had run the mirror and latency sections kept its JVM heap at the ceiling (6.3 GB RSS, both
  // cores collecting garbage) once the GC section seeded its 50,000 documents, though each
  // measurement deletes its project's documents; a section would measure that, not the workers.
  let sectionsRun = 0;
  const emulatorFor = async () => {
    if (sectionsRun++ > 0 && !external) {
      await emulator.stop();
      delete process.env.FIRESTORE_EMULATOR_HOST;
      emulator = await ensureEmulator();
    }
    return emulator.hostPort;
  };
  installOpCounter();
  const started = new Date();
  const loadBefore = loadavg();
  const has = (s: (typeof SECTIONS)[number]) => o.only.includes(s);

  const results: Record<string, unknown> = {
    date: started.toISOString(),
    commit: gitCommit(),
    partial: o.partial,
    note: o.note,
    settings: {
      throughput: "from-all-started",
      delays: o.delays,
      repeats: o.repeat,
      tasks: o.tasks,
      maxSeconds: o.maxSeconds,
      sections: o.only,
      paths: o.paths ?? [...(o.before ? ["before"] : []), ...PATHS.map((p) => p.id)],
    },
    machine: {
      cpu: cpus()[0]?.model ?? "unknown",
      cores: cpus().length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
    },
    emulator: emulator.source,
    prices: PRICES,
    baseline: o.baseline ? baselineOf(o.baseline) : undefined,
  };
  if (has("mirror")) {
    const hostPort = await emulatorFor();
    // The emulator's JVM is cold at first; one unmeasured drain warms it so the first row is not penalized.
    log("warm-up (not reported)");
    await mirrorBench(hostPort, { delays: [0], repeats: 1, tasks: 1000, maxSeconds: 15, paths: ["defaults"] });
    const paths = o.paths ?? (o.before ? ["before", ...PATHS.map((p) => p.id)] : undefined);
    results.mirror = await mirrorBench(hostPort, {
      delays: o.delays,
      repeats: o.repeat,
      tasks: o.tasks,
      maxSeconds: o.maxSeconds,
      paths,
      beforeLib: o.before,
    });
  }
  if (has("latency"))
    results.latency = await latencyBench(await emulatorFor(), {
      delays: o.delays,
      repeats: o.repeat,
      ratePerSecond: o.rate,
      seconds: o.loadSeconds,
    });
  if (has("stalls")) results.stalls = await stallBench(await emulatorFor());
  if (has("gc")) {
    await emulatorFor();
    const s3 = await startS3Server("bench-media");
    const client = createS3Client(s3.config);
    let s3Requests = 0;
    // Every HTTP attempt the SDK makes, retries included.
    client.middlewareStack.add(
      (next) => async (args) => {
        s3Requests++;
        return next(args);
      },
      { step: "finalizeRequest", name: "countRequests" },
    );
    results.mediaGC = await mediaGCBench(client, s3.bucket, () => s3Requests);
    client.destroy();
    await s3.dispose();
  }
  if (has("snapshots")) {
    await emulatorFor();
    results.snapshots = await snapshotBench();
  }
  if (has("heap")) results.heap = await heapBench(await emulatorFor(), o.heapMinutes, 15);

  results.durationMinutes = Math.round((Date.now() - started.getTime()) / 6000) / 10;
  results.load = { before: loadBefore.map((x) => Math.round(x * 100) / 100), after: loadavg().map((x) => Math.round(x * 100) / 100) };
  const dir = o.partial && !o.write ? join(__dirname, "../bench-results") : docsDir;
  mkdirSync(dir, { recursive: true });
  const name = dir === docsDir ? "benchmarks" : `bench-${started.toISOString().replace(/[:.]/g, "-")}`;
  const [json, md] = [join(dir, `${name}.json`), join(dir, name === "benchmarks" ? "BENCHMARKS.md" : `${name}.md`)];
  writeFileSync(json, JSON.stringify(results, null, 2) + "\n");
  writeFileSync(md, renderReport(results));
  log(`wrote ${md} and ${json} (${results.durationMinutes} min)`);
  await emulator.stop();
  process.exit(0);
}

// Interrupted: exit through the exit handlers, which stop the emulator and the processes a measurement started.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

main().catch((error) => {
  process.stderr.write(`[bench] ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
