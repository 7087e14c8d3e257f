#!/usr/bin/env node
import { hostname } from "node:os";
import { systemClock } from "../core/clock";
import { parseStorageConfig } from "../core/config";
import { errorMessage, failureKind } from "../core/errors";
import { getSystemHealth } from "../core/health/systemHealth";
import { createLogger, humanLogLine, type LogOrigin, type LogSink } from "../core/logger";
import { gcRunSucceeded } from "../core/mediaGC/report";
import { runManual, type ManualRunHooks, type ManualRunResult } from "../core/manualRun/runManual";
import { BACKFILL_LEASE_MS } from "../core/mirror/backfillCursor";
import { drainQueue } from "../core/mirror/drain";
import { processMirrorTask } from "../core/mirror/processMirrorTask";
import { requeueDeadLetters } from "../core/mirror/requeue";
import { createMediaStore } from "../core/storage/s3Client";
import { createStandaloneDeps } from "../runtime/standalone";
import { UsageError, parseCommand, type Command } from "./args";
import {
  formatBackfill,
  formatDrain,
  formatGC,
  formatHealth,
  formatRequeue,
  formatSignupCache,
  formatSnapshots,
  formatVerify,
  json,
  shown,
  shownLines,
} from "./format";
import { createProgressDisplay, type ProgressDisplay } from "./progress";
import { MANUAL_SWEEP_LIMIT } from "../core/limits";

/**
 * The operator CLI: `node functions/lib/cli/workers.js <command>`. Results go to stdout (a table,
 * or JSON with --json), progress and log lines to stderr (a bar on a terminal: progress.ts). Exit
 * codes: 0 done, 1 failed or not finished, 2 refused (bad arguments, an id Firestore would refuse,
 * a missing or wrong setting such as storage credentials or bucket: see failureKind in core/errors.ts).
 * Every id, key and error printed goes through format.ts's escaping, so data cannot drive the
 * operator's terminal.
 */
// Errors are one clear line; the AWS SDK's notice about its future Node 22 requirement is not one.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const out = (text: string) => process.stdout.write(text + "\n");

/** Log lines on stderr, readable by a person (`12:00:01 mediaGC.batch scanned=100 ...`), above the progress bar if one is drawn. */
const logSink =
  (display: ProgressDisplay): LogSink =>
  (entry) =>
    display.log(`${String(entry.time).slice(11, 19)} ${shown(humanLogLine(entry))}`);

/** How long the page in hand may take after the first signal before the run is abandoned (a Firestore that stopped answering). */
const STOP_GRACE_MS = 20_000;
/** How long an abandoned run may take to give its lease up before the process exits anyway. */
const RELEASE_WAIT_MS = 5_000;

interface SignalStop {
  signal: AbortSignal;
  abandon: AbortSignal;
  dispose: () => void;
}

/**
 * Aborts when stdout or stderr is closed under the process: the reader of its pipe is gone (`| head`,
 * a pager quit). Node reports each later write as an `error` event, which without a listener would
 * end the process at once, a backfill's lease still held. Listening keeps the process alive: what
 * it writes there is lost, a walk stops as on a signal (stopOnSignals), the exit code stays true.
 */
function outputClosed(): AbortSignal {
  const closed = new AbortController();
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => closed.abort());
  return closed.signal;
}

/**
 * A run that stops on SIGINT, SIGTERM or SIGHUP (a closed terminal), or when its output is closed
 * (`closed`), between pages (the backfill saves its cursor). A second signal, or the page in hand
 * not ending within STOP_GRACE_MS, abandons the page: the backfill gives its lease up with the
 * cursor of the last page done, and the process exits after at most RELEASE_WAIT_MS more, saying
 * whether the lease is still held.
 */
function stopOnSignals(display: ProgressDisplay, closed: AbortSignal): SignalStop {
  const stop = new AbortController();
  const abandon = new AbortController();
  const timers: NodeJS.Timeout[] = [];
  const later = (ms: number, then: () => void) => timers.push(setTimeout(then, ms).unref());
  const abandonNow = (why: string) => {
    if (abandon.signal.aborted) return;
    display.log(`workers: ${why}: stopping now, the page in hand left for the next run`);
    abandon.abort();
    later(RELEASE_WAIT_MS, () => {
      display.stop();
      process.stderr.write(
        `workers: Firestore did not answer within ${RELEASE_WAIT_MS / 1000} s: exiting with the backfill's lease still held; ` +
          `the next run of this scope can start once it runs out (at most ${BACKFILL_LEASE_MS / 1000} s) and resumes from the last saved cursor\n`,
      );
      process.exit(1);
    });
  };
  const stopAfterPage = (why: string, more = "") => {
    display.log(`workers: ${why}: stopping after the page in hand${more}`);
    stop.abort();
    later(STOP_GRACE_MS, () => abandonNow(`the page in hand did not end within ${STOP_GRACE_MS / 1000} s of the stop`));
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) return abandonNow(`${signal} again`);
    stopAfterPage(signal, " (send it again to stop at once)");
  };
  const onClosed = () => {
    if (!stop.signal.aborted) stopAfterPage("output closed");
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of signals) process.on(s, onSignal);
  if (closed.aborted) onClosed();
  else closed.addEventListener("abort", onClosed, { once: true });
  return {
    signal: stop.signal,
    abandon: abandon.signal,
    dispose: () => {
      for (const s of signals) process.off(s, onSignal);
      closed.removeEventListener("abort", onClosed);
      for (const t of timers) clearTimeout(t);
    },
  };
}

async function run(command: Exclude<Command, { kind: "help" }>, display: ProgressDisplay, closed: AbortSignal): Promise<number> {
  const origin: LogOrigin = {
    entryPoint: "cli",
    worker: command.kind === "run" ? command.request.worker : command.kind === "status" ? "status" : "mirrorQueue",
  };
  const deps = {
    ...(await createStandaloneDeps(origin, process.env, { quiet: true })),
    logger: createLogger({ sink: logSink(display), fields: { ...origin } }),
  };
  const print = (report: unknown, human: () => string) => {
    display.stop();
    out(command.json ? json(report) : human());
  };

  if (command.kind === "status") {
    const health = await getSystemHealth(deps.db, deps.config, systemClock.now());
    print(health, () => formatHealth(health));
    return 0;
  }
  if (command.kind === "requeue") {
    const report = await requeueDeadLetters(deps.db, {
      maxAttempts: deps.config.MIRROR_MAX_ATTEMPTS,
      taskIds: command.all ? undefined : command.taskIds,
    });
    print(report, () => formatRequeue(report));
    return report.notDeadLetters.length && !command.all ? 1 : 0;
  }
  const request = command.request;
  if (command.drain && request.worker === "mirrorQueue") {
    const report = await drainQueue(deps, {
      limit: request.limit ?? MANUAL_SWEEP_LIMIT.default,
      workerId: "cli",
      onProgress: display.onProgress,
    });
    print(report, () => formatDrain(report));
    return report.failed + report.deadLetter + report.invalid + report.stuck.length > 0 ? 1 : 0;
  }
  const walks = request.worker === "mirrorBackfill" || request.worker === "mirrorVerify";
  const signals = walks ? stopOnSignals(display, closed) : undefined;
  // The CLI applies the tasks a backfill or repair enqueues itself, as the trigger does: the mirror
  // is in line when it ends, with or without a trigger or worker running (their claims share the
  // work). One line per task would drown the progress: only their warnings and errors are shown.
  const applyDeps = { ...deps, logger: createLogger({ sink: logSink(display), minSeverity: "WARNING", fields: { ...origin } }) };
  const hooks: ManualRunHooks = walks
    ? {
        onProgress: display.onProgress,
        signal: signals!.signal,
        abandon: signals!.abandon,
        workerId: `cli@${hostname()}:${process.pid}`,
        rate: command.rate,
        timeBudgetMs: Infinity,
        apply: (taskId) => processMirrorTask(applyDeps, taskId, { workerId: "cli" }),
      }
    : { onProgress: display.onProgress };
  const mediaStore = () => {
    const config = parseStorageConfig(process.env);
    return createMediaStore(config);
  };
  let result: ManualRunResult;
  try {
    result = await runManual(deps, mediaStore, request, hooks);
  } finally {
    signals?.dispose();
  }
  // An abandoned page's calls may still be waiting on Firestore: the process ends with the report.
  if (signals?.abandon.aborted) setImmediate(() => process.exit());
  return printResult(result, print);
}

/** Prints a run's report and answers its exit code: 1 when something failed or did not finish. */
function printResult(result: ManualRunResult, print: (report: unknown, human: () => string) => void): number {
  switch (result.worker) {
    case "mediaGC": {
      const gc = result.report;
      print(gc, () => formatGC(gc));
      return gcRunSucceeded(gc) ? 0 : 1;
    }
    case "snapshots": {
      const s = result.report;
      print(s, () => formatSnapshots(s));
      return s.failed.length ? 1 : 0;
    }
    case "mirrorBackfill": {
      const b = result.report;
      print(b, () => formatBackfill(b));
      return b.complete && b.tasks.notDoneCount === 0 ? 0 : 1;
    }
    case "mirrorVerify": {
      const v = result.report;
      print(v, () => formatVerify(v));
      return v.inSync ? 0 : 1;
    }
    case "signupImageCache": {
      const c = result.report;
      print(c, () => formatSignupCache(c));
      return 0;
    }
    // The CLI runs these as `status` and `mirror drain`, not through runManual.
    case "status":
    case "mirrorQueue":
      print(result.report, () => json(result.report));
      return 0;
  }
}

async function main(): Promise<void> {
  let command: Command;
  try {
    command = parseCommand(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`workers: ${shownLines(errorMessage(error))}\n`);
    process.exit(2);
  }
  if (command.kind === "help") {
    out(command.text);
    return;
  }
  const closed = outputClosed();
  const display = createProgressDisplay(process.stderr);
  try {
    process.exitCode = await run(command, display, closed);
  } catch (error) {
    display.stop();
    // Bad arguments, settings or environment: nothing to debug, the line says what to fix.
    const refused = error instanceof UsageError || failureKind(error) !== "internal";
    process.stderr.write(`workers: ${shownLines(errorMessage(error))}\n`);
    if (!refused && error instanceof Error && error.stack) process.stderr.write(`${shownLines(error.stack)}\n`);
    process.exitCode = refused ? 2 : 1;
  }
}

void main();
