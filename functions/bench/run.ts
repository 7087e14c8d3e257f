/**
 * `npm run bench`: throughput, Firestore operations per item, and how cost grows, measured against
 * the Firestore emulator and a local S3 server on this machine. Writes docs/BENCHMARKS.md and
 * docs/benchmarks.json. Separate from the tests; takes several minutes.
 */
import { cpus, totalmem } from "node:os";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureEmulator } from "../dev/emulator";
import { startS3Server } from "../dev/s3Server";
import { createS3Client } from "../src/core/storage/s3Client";
import { heapBench } from "./heapBench";
import { mediaGCBench } from "./mediaGCBench";
import { mirrorBench } from "./mirrorBench";
import { installOpCounter } from "./opCounter";
import { renderReport } from "./report";
import { snapshotBench } from "./snapshotBench";
import { log } from "./setup";

async function main(): Promise<void> {
  if (process.argv.includes("--render")) {
    // Re-renders the report from the last run's numbers, e.g. after a change to its text.
    const docs = join(__dirname, "../../../docs");
    writeFileSync(join(docs, "BENCHMARKS.md"), renderReport(JSON.parse(readFileSync(join(docs, "benchmarks.json"), "utf8"))));
    return;
  }
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  process.env.METADATA_SERVER_DETECTION ??= "none"; // no metadata server off Google Cloud
  const heapMinutes = Number(process.env.BENCH_HEAP_MINUTES ?? 3);
  const emulator = await ensureEmulator();
  const s3 = await startS3Server("bench-media");
  const client = createS3Client(s3.config);
  let s3Requests = 0;
  // Every HTTP attempt the SDK makes, retries included.
  client.middlewareStack.add((next) => async (args) => {
    s3Requests++;
    return next(args);
  }, { step: "finalizeRequest", name: "countRequests" });
  installOpCounter();

  const started = new Date();
  const mirror = await mirrorBench();
  const mediaGC = await mediaGCBench(client, s3.bucket, () => s3Requests);
  const snapshots = await snapshotBench();
  const heap = await heapBench(emulator.hostPort, heapMinutes, 15);

  const results = {
    date: started.toISOString(),
    durationMinutes: Math.round((Date.now() - started.getTime()) / 6000) / 10,
    machine: { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform} ${process.arch}` },
    emulator: emulator.source,
    opCounting: "Firestore operations counted by instrumenting the Firestore SDK's read and commit paths in the benchmark process (bench/opCounter.ts): docs returned by lookups (found or not) and queries (at least 1 per query), 1 per count aggregation, and the writes of each successful commit; S3 requests counted by an SDK middleware (every HTTP attempt).",
    mirror,
    mediaGC,
    snapshots,
    heap,
  };
  const docs = join(__dirname, "../../../docs");
  writeFileSync(join(docs, "benchmarks.json"), JSON.stringify(results, null, 2) + "\n");
  writeFileSync(join(docs, "BENCHMARKS.md"), renderReport(results));
  log(`wrote docs/BENCHMARKS.md and docs/benchmarks.json (${results.durationMinutes} min)`);
  client.destroy();
  await s3.dispose();
  await emulator.stop();
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`[bench] ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
