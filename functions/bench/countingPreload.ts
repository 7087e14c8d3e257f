/**
 * `node -r build/bench/countingPreload.js ...`: counts the Firestore RPCs and billed operations of a
 * process the benchmark starts (a standalone worker, the trigger runner) without touching its code,
 * and writes them as JSON to BENCH_COUNTS_FILE when the process exits, with the CPU time it spent
 * from its first RPC on (its start-up left out). Benchmarks only.
 */
import { writeFileSync } from "node:fs";
import { cpuSinceFirstRpcMs, installOpCounter, snapshotCounts } from "./opCounter";

installOpCounter();
const file = process.env.BENCH_COUNTS_FILE;
if (file) process.on("exit", () => writeFileSync(file, JSON.stringify({ ...snapshotCounts(), cpuMs: cpuSinceFirstRpcMs() })));
