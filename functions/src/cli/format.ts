import type { SystemHealth } from "../core/health/systemHealth";
import type { MediaGCHealth } from "../core/mediaGC/health";
import type { MediaGCReport } from "../core/mediaGC/runMediaGC";
import type { BackfillReport } from "../core/mirror/backfill";
import { REPORTED_DRIFT, type DriftCounts, type DriftEntry, type ReportedDrift } from "../core/mirror/drift";
import type { DrainReport } from "../core/mirror/drain";
import type { RepairTally } from "../core/mirror/repairTasks";
import type { VerifyReport } from "../core/mirror/verify";
import type { RequeueReport } from "../core/mirror/requeue";
import type { SignupCacheReport } from "../core/signupCache/refreshSignupImageCache";
import type { SnapshotReport } from "../core/snapshots/processSnapshots";

/**
 * Human output of the operator CLI; `--json` prints the reports as they are instead. Every id,
 * key and error printed comes from Firestore or a store and may hold anything: `shown` turns the
 * characters a terminal acts on into escapes.
 */

/** C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional controls that reorder text. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** `value` as text that prints as itself: every control character as an escape (\n, \u001b). */
export function shown(value: unknown): string {
  return String(value).replace(UNPRINTABLE, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Multi-line text (usage, a stack): each line shown, the line breaks kept. */
export function shownLines(text: string): string {
  return text.split("\n").map(shown).join("\n");
}

/** JSON output with the characters JSON.stringify leaves raw (DEL, C1, separators, bidi controls) escaped too: the same JSON value. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(shown));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function duration(ms: number | null): string {
  if (ms === null) return "-";
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatHealth(h: SystemHealth): string {
  const q = h.queue;
  const lines = [
    "mirror queue",
    table([
      [
        "pending",
        "processing",
        "done",
        "failed",
        "retrying",
        "dead letters",
        "oldest pending",
        "expired leases",
        `attempts >= ${q.manyAttempts.threshold}`,
      ],
      [
        q.depth.pending,
        q.depth.processing,
        q.depth.done,
        q.depth.failed,
        q.retrying,
        q.deadLetters.count,
        duration(q.oldestPendingAgeMs),
        q.expiredLeases.count,
        q.manyAttempts.count,
      ],
    ]),
  ];
  if (q.deadLetters.recent.length) {
    lines.push(
      "",
      "dead letters (newest first)",
      table([
        ["task", "op", "historyId", "attempts", "last error"],
        ...q.deadLetters.recent.map((d) => [d.taskId, d.op ?? "-", d.historyId ?? "-", d.attempts, d.lastError ?? "-"]),
      ]),
    );
  }
  if (q.expiredLeases.taskIds.length) lines.push("", `expired leases: ${q.expiredLeases.taskIds.map(shown).join(", ")}`);
  const far = q.implausibleTimes;
  if (far.taskIds.length)
    lines.push(
      "",
      `leases (${far.leases}) or retry times (${far.retries}) further ahead than a worker writes, taken at once: ${far.taskIds.map(shown).join(", ")}`,
    );
  lines.push(
    "",
    formatMediaGCHealth(h.mediaGC),
    `projects due a snapshot: ${h.snapshots.dueByOps} by op count, ${h.snapshots.dueByAge} by age (never-snapshotted projects are found by the worker's scan, not counted here); ${h.snapshots.failing.count} failing`,
    `signup cache: ${h.signupCache.refreshedAt ? `${shown(h.signupCache.count)} images, refreshed ${duration(h.signupCache.ageMs)} ago (${h.signupCache.refreshedAt})` : "never refreshed"}`,
  );
  if (h.mediaGC.needsAttention.length) {
    lines.push(
      "",
      "media the GC leaves until a person acts (set aside: fix the object, then delete gcFailures; a key the GC will not send: fix the key or delete the record)",
      table([["media", "key", "why", "detail"], ...h.mediaGC.needsAttention.map((m) => [m.id, m.storageKey, m.reason, m.detail])]),
    );
  }
  const failing = h.snapshots.failing.recent;
  if (failing.length) {
    lines.push(
      "",
      "projects failing to snapshot (most recent first)",
      table([
        ["project", "attempts", "permanent", "next retry", "reason"],
        ...failing.map((f) => [f.projectId, f.attempts, f.permanent ? "yes" : "no", f.retryAt ?? "-", f.error]),
      ]),
    );
  }
  return lines.join("\n");
}

function formatMediaGCHealth(m: MediaGCHealth): string {
  const among = m.complete ? "" : ` among the oldest ${m.examined} of ${m.unreferencedOld}`;
  const skipped = Object.entries(m.skipped);
  const left = skipped.length ? `; left alone: ${skipped.map(([k, n]) => `${n} ${k}`).join(", ")}` : "";
  return `media GC candidates (unreferenced, older than ${m.ttlDays} days): ${m.candidates}${among}${left}`;
}

export function formatGC(r: MediaGCReport): string {
  const lines: string[] = [];
  if (r.dryRun) {
    const listed = r.candidates.length < r.candidateCount ? `; the oldest ${r.candidates.length} listed` : "";
    lines.push(`dry run: ${r.candidateCount} media would be deleted, ${bytes(r.bytesFreed)} freed (scanned ${r.scanned}${listed})`);
    if (r.candidates.length)
      lines.push(
        table([
          ["id", "key", "size", "age (days)"],
          ...r.candidates.map((c) => [c.id, c.storageKey, c.size === null ? "-" : bytes(c.size), c.ageDays]),
        ]),
      );
  } else {
    lines.push(
      `deleted ${r.deleted} media, ${bytes(r.bytesFreed)} freed, ${r.failedCount} failed (scanned ${r.scanned} in ${r.batches} batches, ${duration(r.durationMs)})${r.complete ? "" : `; stopped: ${shown(r.stoppedBy)}, run again to continue`}`,
    );
    if (r.sharedObjectsKept) lines.push(`  ${r.sharedObjectsKept} of them kept their object: another media doc names the same storageKey`);
    for (const f of r.failed) lines.push(`  failed ${shown(f.id)} (${shown(f.storageKey)}): ${shown(f.reason)}`);
    if (r.failed.length < r.failedCount)
      lines.push(`  ... and ${r.failedCount - r.failed.length} more failed (in the log: mediaGC.item_failed)`);
  }
  const skipped = Object.entries(r.skipped);
  if (skipped.length) lines.push(`skipped: ${skipped.map(([k, n]) => `${n} ${k}`).join(", ")}`);
  return lines.join("\n");
}

export function formatRequeue(r: RequeueReport): string {
  const lines = [
    `requeued ${r.requeued.length} task${r.requeued.length === 1 ? "" : "s"}${r.requeued.length ? `: ${r.requeued.map(shown).join(", ")}` : ""}`,
  ];
  if (r.notDeadLetters.length) lines.push(`not dead letters (left alone): ${r.notDeadLetters.map(shown).join(", ")}`);
  return lines.join("\n");
}

export function formatSnapshots(s: SnapshotReport): string {
  const left = s.deferred ? `; ${s.deferred} due projects left for the next run` : "";
  return [
    `snapshots: ${s.created.length} created, ${s.skipped.length} skipped, ${s.repaired.length} counters repaired, ${s.failed.length} failed (${s.candidates} candidates)${left}`,
    ...s.created.map(
      (c) =>
        `  ${shown(c.projectId)}: ${shown(c.snapshotId)} (opIndex ${c.opIndex}, ${c.elementCount} elements, ${c.partCount} parts, ${c.pruned} pruned)`,
    ),
    ...s.skipped.map((c) => `  ${shown(c.projectId)}: skipped, ${shown(c.reason)}`),
    ...s.repaired.map(
      (c) =>
        `  ${shown(c.projectId)}: opsSinceSnapshot ${shown(c.opsSinceSnapshot.from ?? "-")} -> ${c.opsSinceSnapshot.to} (nothing new to snapshot)`,
    ),
    ...s.failed.map(
      (c) =>
        `  ${shown(c.projectId)}: FAILED${c.permanent ? " (permanent)" : ""}, attempt ${c.attempts}, retry ${shown(c.retryAt ?? "not scheduled")}: ${shown(c.error)}`,
    ),
  ].join("\n");
}

export function formatSignupCache(c: SignupCacheReport): string {
  return c.refreshed ? `signup cache refreshed: ${c.count} images` : `signup cache kept: ${shown(c.reason)}`;
}

export function formatDrain(d: DrainReport): string {
  const lines = [
    `drained: ${d.done} done, ${d.failed} failed (will retry), ${d.deadLetter} dead letters, ${d.invalid} invalid, in ${d.batches} batches`,
  ];
  if (d.stuck.length) {
    lines.push(`stopped: the last batch moved none of its ${d.stuck.length} tasks on`);
    for (const s of d.stuck) lines.push(`  stuck ${shown(s.taskId)}: ${shown(s.reason)}${s.error ? ` (${shown(s.error)})` : ""}`);
  }
  return lines.join("\n");
}

const n = (x: number) => x.toLocaleString("en-US");

const DRIFT_LABELS: Record<ReportedDrift, string> = {
  missing: "public items without a mirror doc",
  differs: "mirror docs whose fields differ from their item's",
  sourcePrivate: "mirror docs of private items",
  sourceDeleted: "mirror docs of deleted items",
  sourceGone: "mirror docs whose item is gone",
  conflict: "public items whose historyId another user's mirrored item holds (not drift: the mirror keeps the first)",
  tooLarge: "public items whose mirror doc would pass Firestore's 1 MiB limit (not drift: never published)",
  unowned: "mirror docs with no usable uid, which no task may change (check, then delete by hand)",
};

function driftLine(e: DriftEntry): string {
  const item = `${e.uid === null || e.uid === undefined ? "?" : shown(e.uid)}/${shown(e.historyId)}`;
  if (e.fields) return `  ${item}: ${e.fields.map(shown).join(", ")}`;
  if (e.owner !== undefined) return `  ${item}: the mirror doc belongs to ${shown(e.owner)}`;
  if (e.bytes !== undefined) return `  ${item}: ${n(e.bytes)} bytes`;
  return `  ${item}`;
}

/** Each kind of drift met: its count, what it means, and its sample. */
function driftLines(drift: DriftCounts): string[] {
  const lines: string[] = [];
  for (const kind of REPORTED_DRIFT) {
    const { count, sample } = drift[kind];
    if (!count) continue;
    lines.push(
      `${kind} (${DRIFT_LABELS[kind]}): ${n(count)}${count > sample.length ? `, the first ${sample.length}:` : ""}`,
      ...sample.map(driftLine),
    );
  }
  return lines;
}

function taskLines(t: RepairTally, dryRun = false): string[] {
  if (dryRun) return [`would enqueue ${n(t.enqueued)} upsert tasks`];
  const lines = [
    `enqueued ${n(t.enqueued)} upsert tasks${t.alreadyEnqueued ? ` (${n(t.alreadyEnqueued)} more were already enqueued by this run)` : ""}`,
  ];
  if (t.applied) {
    const outcomes = Object.entries(t.applied.byOutcome).map(([k, c]) => `${n(c)} ${k}`);
    const others = Object.entries(t.applied.byStatus)
      .filter(([k]) => k !== "done")
      .map(([k, c]) => `${n(c)} ${k}`);
    lines.push(`applied here: ${[...outcomes, ...others].join(", ") || "nothing"}`);
  }
  if (t.notDoneCount)
    lines.push(
      `not done here: ${n(t.notDoneCount)} tasks (left to the queue: a trigger or worker applies them when due; \`workers status\` shows them)`,
    );
  for (const f of t.notDone)
    lines.push(`  task ${shown(f.taskId)} (${shown(f.uid)}/${shown(f.historyId)}): ${f.status}${f.error ? `: ${shown(f.error)}` : ""}`);
  return lines;
}

export function formatBackfill(r: BackfillReport): string {
  const scope =
    [r.scope.uid !== null ? `uid ${shown(r.scope.uid)}` : "", r.scope.since !== null ? `updated since ${r.scope.since}` : ""]
      .filter(Boolean)
      .join(", ") || "every item";
  if (r.busy)
    return `backfill (${scope}) not started: another run holds its cursor until ${r.busy.leaseExpiresAt} (${shown(r.busy.leaseOwner)}); run it again after that`;
  // A dry run keeps no cursor: the next one starts from the first item again.
  const again = r.dryRun ? "a dry run keeps no cursor, run it again to start over" : "run it again to go on from where it stopped";
  const state = r.complete ? "complete" : `stopped (${r.stoppedBy}): ${again}`;
  return [
    `backfill${r.dryRun ? " dry run" : ""} (${scope}) ${r.runId}${r.resumed ? ", resumed" : ""}: ${state}`,
    `walked ${n(r.walked)} docs in ${duration(r.durationMs)} (${r.itemsPerSecond} items/s; the run so far: ${n(r.run.walked)}): ${n(r.matching)} in line, ${n(r.notPublic)} not public${r.notHistoryItems ? `, ${n(r.notHistoryItems)} not history items` : ""}`,
    // A mistyped --uid or a --since in the future walks nothing: say so rather than only "complete".
    ...(r.complete && r.run.walked === 0 ? [`no history items in this scope${r.scope.uid !== null ? " (is the uid right?)" : ""}`] : []),
    ...taskLines(r.tasks, r.dryRun),
    ...driftLines(r.drift),
  ].join("\n");
}

export function formatVerify(r: VerifyReport): string {
  const scanned = `${n(r.scanned.historyItems)} history items and ${n(r.scanned.mirrorDocs)} mirror docs compared in ${duration(r.durationMs)}`;
  const lines = [
    r.inSync
      ? `in sync: ${scanned}`
      : `${r.complete ? "drift" : `incomplete (stopped: ${r.stoppedBy})`}: ${n(r.driftCount)} found; ${scanned}; ${n(r.matching)} in line`,
  ];
  lines.push(...driftLines(r.drift));
  if (r.repair)
    lines.push(
      ...taskLines(r.repair),
      ...(r.repair.unrepairable ? [`not repairable: ${n(r.repair.unrepairable)} (conflict, tooLarge, unowned)`] : []),
    );
  return lines.join("\n");
}
