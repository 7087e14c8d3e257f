#!/usr/bin/env node
import { systemClock } from "../core/clock";
import { parseStorageConfig } from "../core/config";
import { errorMessage, failureKind } from "../core/errors";
import { getSystemHealth } from "../core/health";
import { createLogger, humanLogLine, type LogSink } from "../core/logger";
import type { MediaGCReport } from "../core/mediaGC/runMediaGC";
import { runManual, type ManualRunHooks } from "../core/manualRun/runManual";
import type { BackfillReport } from "../core/mirror/backfill";
import { drainQueue } from "../core/mirror/drain";
import { processMirrorTask } from "../core/mirror/processMirrorTask";
import { requeueDeadLetters } from "../core/mirror/requeue";
import type { VerifyReport } from "../core/mirror/verify";
import type { SignupCacheReport } from "../core/signupCache/refreshSignupImageCache";
import type { SnapshotReport } from "../core/snapshots/processSnapshots";
import { S3MediaStore } from "../core/storage/mediaStore";
import { createS3Client } from "../core/storage/s3Client";
import { createStandaloneDeps } from "../runtime/standalone";
import { UsageError, parseCommand, type Command } from "./args";
import { formatBackfill, formatDrain, formatGC, formatHealth, formatRequeue, formatSignupCache, formatSnapshots, formatVerify, json, shown, shownLines } from "./format";
import { createProgressDisplay, type ProgressDisplay } from "./progress";

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

/**
 * A run that stops on SIGINT/SIGTERM between pages (the backfill saves its cursor): the first
 * signal asks it to stop, a second one exits at once.
 */
function stopOnSignals(display: ProgressDisplay): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      display.stop();
      process.stderr.write(`workers: ${signal} again: stopped at once; the next run resumes from the last saved cursor\n`);
      process.exit(1);
    }
    display.log(`workers: ${signal}: stopping after the page in hand (send it again to stop at once)`);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

async function run(command: Exclude<Command, { kind: "help" }>, display: ProgressDisplay): Promise<number> {
  const deps = { ...(await createStandaloneDeps("cli", process.env, { quiet: true })), logger: createLogger({ sink: logSink(display), fields: { worker: "cli" } }) };
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
    const report = await requeueDeadLetters(deps.db, { maxAttempts: deps.config.MIRROR_MAX_ATTEMPTS, taskIds: command.all ? undefined : command.taskIds });
    print(report, () => formatRequeue(report));
    return report.notDeadLetters.length && !command.all ? 1 : 0;
  }
  const request = command.request;
  if (command.drain && request.worker === "mirrorQueue") {
    const report = await drainQueue(deps, { limit: request.limit ?? 100, workerId: "cli", onProgress: display.onProgress });
    print(report, () => formatDrain(report));
    return report.failed + report.deadLetter + report.invalid + report.stuck.length > 0 ? 1 : 0;
  }
  const walks = request.worker === "mirrorBackfill" || request.worker === "mirrorVerify";
  const signals = walks ? stopOnSignals(display) : undefined;
  // The CLI applies the tasks a backfill or repair enqueues itself, as the trigger does: the mirror
  // is in line when it ends, with or without a trigger or worker running (their claims share the
  // work). One line per task would drown the progress: only their warnings and errors are shown.
  const applyDeps = { ...deps, logger: createLogger({ sink: logSink(display), minSeverity: "WARNING", fields: { worker: "cli" } }) };
  const hooks: ManualRunHooks = walks
    ? { onProgress: display.onProgress, signal: signals!.signal, rate: command.rate, timeBudgetMs: Infinity, apply: (taskId) => processMirrorTask(applyDeps, taskId, { workerId: "cli" }) }
    : { onProgress: display.onProgress };
  const mediaStore = () => {
    const config = parseStorageConfig(process.env);
    return new S3MediaStore(createS3Client(config), config.ZATA_BUCKET);
  };
  let report: unknown;
  try {
    report = await runManual(deps, mediaStore, request, hooks);
  } finally {
    signals?.dispose();
  }
  switch (request.worker) {
    case "mediaGC": {
      const gc = report as MediaGCReport;
      print(gc, () => formatGC(gc));
      return gc.failed.length ? 1 : 0;
    }
    case "snapshots": {
      const s = report as SnapshotReport;
      print(s, () => formatSnapshots(s));
      return s.failed.length ? 1 : 0;
    }
    case "mirrorBackfill": {
      const b = report as BackfillReport;
      print(b, () => formatBackfill(b));
      return b.complete && b.tasks.notDoneCount === 0 ? 0 : 1;
    }
    case "mirrorVerify": {
      const v = report as VerifyReport;
      print(v, () => formatVerify(v));
      return v.inSync ? 0 : 1;
    }
    default: {
      const c = report as SignupCacheReport;
      print(c, () => formatSignupCache(c));
      return 0;
    }
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
  const display = createProgressDisplay(process.stderr);
  try {
    process.exitCode = await run(command, display);
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
