#!/usr/bin/env node
import { systemClock } from "../core/clock";
import { parseStorageConfig } from "../core/config";
import { errorMessage, failureKind } from "../core/errors";
import { getSystemHealth } from "../core/health";
import { createLogger, humanLogLine, type LogSink } from "../core/logger";
import type { MediaGCReport } from "../core/mediaGC/runMediaGC";
import { runManual } from "../core/manualRun/runManual";
import { processPendingTasks, type MirrorRunReport } from "../core/mirror/processPendingTasks";
import { requeueDeadLetters } from "../core/mirror/requeue";
import type { SignupCacheReport } from "../core/signupCache/refreshSignupImageCache";
import type { SnapshotReport } from "../core/snapshots/processSnapshots";
import { S3MediaStore } from "../core/storage/mediaStore";
import { createS3Client } from "../core/storage/s3Client";
import { createStandaloneDeps } from "../runtime/standalone";
import { UsageError, parseCommand, type Command } from "./args";
import { formatGC, formatHealth, formatRequeue, formatSignupCache, formatSnapshots } from "./format";

/**
 * The operator CLI: `node functions/lib/cli/workers.js <command>`. Results go to stdout (a table,
 * or JSON with --json), progress to stderr. Exit codes: 0 done, 1 failed, 2 refused (bad
 * arguments, an id Firestore would refuse, a missing or wrong setting such as storage credentials
 * or bucket: see failureKind in core/errors.ts).
 */
// Errors are one clear line; the AWS SDK's notice about its future Node 22 requirement is not one.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const out = (text: string) => process.stdout.write(text + "\n");

/** Progress lines on stderr, readable by a person: `12:00:01 mirror.drain.batch done=12 failed=0`. */
const progressSink: LogSink = (entry) => {
  process.stderr.write(`${String(entry.time).slice(11, 19)} ${humanLogLine(entry)}\n`);
};

async function run(command: Exclude<Command, { kind: "help" }>): Promise<number> {
  const deps = { ...(await createStandaloneDeps("cli", process.env, { quiet: true })), logger: createLogger({ sink: progressSink, fields: { worker: "cli" } }) };
  const print = (report: unknown, human: () => string) => out(command.json ? JSON.stringify(report, null, 2) : human());

  if (command.kind === "status") {
    const health = await getSystemHealth(deps.db, deps.config, systemClock.now());
    print(health, () => formatHealth(health));
    return 0;
  }
  if (command.kind === "requeue") {
    const report = await requeueDeadLetters(deps.db, { taskIds: command.all ? undefined : command.taskIds });
    print(report, () => formatRequeue(report));
    return report.notDeadLetters.length && !command.all ? 1 : 0;
  }
  const request = command.request;
  if (command.drain && request.worker === "mirrorQueue") {
    const totals = { batches: 0, found: 0, done: 0, failed: 0, deadLetter: 0, invalid: 0 };
    for (;;) {
      const report: MirrorRunReport = await processPendingTasks(deps, { limit: request.limit ?? 100, workerId: "cli" });
      totals.batches++;
      totals.found += report.found;
      totals.done += report.byStatus.done;
      totals.failed += report.byStatus.failed;
      totals.deadLetter += report.byStatus["dead-letter"];
      totals.invalid += report.byStatus.invalid;
      deps.logger.info("mirror.drain.batch", { batch: totals.batches, found: report.found, ...report.byStatus });
      // Stop when nothing was due, or nothing in the batch could be claimed (others hold it).
      if (report.found === 0 || report.byStatus.skipped + report.byStatus["lease-lost"] === report.found) break;
    }
    print(totals, () => `drained: ${totals.done} done, ${totals.failed} failed (will retry), ${totals.deadLetter} dead letters, ${totals.invalid} invalid, in ${totals.batches} batches`);
    return totals.failed + totals.deadLetter + totals.invalid > 0 ? 1 : 0;
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
    process.stderr.write(`workers: ${errorMessage(error)}\n`);
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
    process.stderr.write(`workers: ${errorMessage(error)}\n`);
    if (!refused && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    process.exitCode = refused ? 2 : 1;
  }
}

void main();
