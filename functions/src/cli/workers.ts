#!/usr/bin/env node
import { systemClock } from "../core/clock";
import { parseStorageConfig } from "../core/config";
import { errorMessage, failureKind } from "../core/errors";
import { getSystemHealth } from "../core/health";
import { createLogger, humanLogLine, type LogSink } from "../core/logger";
import type { MediaGCReport } from "../core/mediaGC/runMediaGC";
import { runManual } from "../core/manualRun/runManual";
import { drainQueue } from "../core/mirror/drain";
import { requeueDeadLetters } from "../core/mirror/requeue";
import type { SignupCacheReport } from "../core/signupCache/refreshSignupImageCache";
import type { SnapshotReport } from "../core/snapshots/processSnapshots";
import { S3MediaStore } from "../core/storage/mediaStore";
import { createS3Client } from "../core/storage/s3Client";
import { createStandaloneDeps } from "../runtime/standalone";
import { UsageError, parseCommand, type Command } from "./args";
import { formatDrain, formatGC, formatHealth, formatRequeue, formatSignupCache, formatSnapshots, json, shown, shownLines } from "./format";

/**
 * The operator CLI: `node functions/lib/cli/workers.js <command>`. Results go to stdout (a table,
 * or JSON with --json), progress to stderr. Exit codes: 0 done, 1 failed, 2 refused (bad
 * arguments, an id Firestore would refuse, a missing or wrong setting such as storage credentials
 * or bucket: see failureKind in core/errors.ts). Every id, key and error printed goes through
 * format.ts's escaping, so data cannot drive the operator's terminal.
 */
// Errors are one clear line; the AWS SDK's notice about its future Node 22 requirement is not one.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const out = (text: string) => process.stdout.write(text + "\n");

/** Progress lines on stderr, readable by a person: `12:00:01 mirror.drain.batch done=12 failed=0`. */
const progressSink: LogSink = (entry) => {
  process.stderr.write(`${String(entry.time).slice(11, 19)} ${shown(humanLogLine(entry))}\n`);
};

async function run(command: Exclude<Command, { kind: "help" }>): Promise<number> {
  const deps = { ...(await createStandaloneDeps("cli", process.env, { quiet: true })), logger: createLogger({ sink: progressSink, fields: { worker: "cli" } }) };
  const print = (report: unknown, human: () => string) => out(command.json ? json(report) : human());

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
    const report = await drainQueue(deps, {
      limit: request.limit ?? 100,
      workerId: "cli",
      onBatch: (batch, found, progressed) => deps.logger.info("mirror.drain.batch", { batch, found, progressed }),
    });
    print(report, () => formatDrain(report));
    return report.failed + report.deadLetter + report.invalid + report.stuck.length > 0 ? 1 : 0;
  }
  const report = await runManual(deps, () => {
    const config = parseStorageConfig(process.env);
    return new S3MediaStore(createS3Client(config), config.ZATA_BUCKET);
  }, request);
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
  try {
    process.exitCode = await run(command);
  } catch (error) {
    // Bad arguments, settings or environment: nothing to debug, the line says what to fix.
    const refused = error instanceof UsageError || failureKind(error) !== "internal";
    process.stderr.write(`workers: ${shownLines(errorMessage(error))}\n`);
    if (!refused && error instanceof Error && error.stack) process.stderr.write(`${shownLines(error.stack)}\n`);
    process.exitCode = refused ? 2 : 1;
  }
}

void main();
