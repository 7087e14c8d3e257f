import { parseArgs } from "node:util";
import { errorMessage } from "../core/errors";
import { documentIdProblem } from "../core/firestoreIds";
import { parseRunWorkerRequest, type RunWorkerRequest } from "../core/manualRun/request";
import { DEFAULT_WALK_RATE, MAX_WALK_RATE } from "../core/mirror/historyWalk";

/**
 * The operator CLI's command line, parsed and validated before anything touches Firestore.
 * Numbers and ids go through the same schema as the runWorker callable, so both refuse the same
 * requests with the same messages.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

export type Command =
  | { kind: "help"; text: string }
  | { kind: "status"; json: boolean }
  | { kind: "requeue"; json: boolean; all: boolean; taskIds: string[] }
  | { kind: "run"; json: boolean; request: RunWorkerRequest; drain?: boolean; rate?: number };

export const USAGE = `usage: workers <command> [options]

commands:
  status                     queue health, dead letters, GC candidates, snapshots due, signup cache age
  requeue (--all | ID...)    put dead-letter mirror tasks back to pending, attempts reset
  gc [--dry-run] [--ttl-days N] [--batch-size N]
                             run the canvas media GC; a dry run lists what it would delete
  snapshot [PROJECT_ID] [--force] [--batch-size N]
                             snapshot the projects that are due, or one project
  signup-cache refresh       refresh signupImageCache/current
  mirror drain [--limit N]   process mirror tasks until none is due or a batch moves none on
  mirror backfill [--dry-run] [--uid UID] [--since DATE] [--rate N]
                             bring the public mirror in line with the history items (resumable)
  mirror verify [--repair] [--rate N]
                             report the drift between the history items and the public mirror

options for every command: --json (machine output), --help
environment: FIRESTORE_EMULATOR_HOST for the emulator, else GCLOUD_PROJECT and Application Default Credentials;
the ZATA_* settings for gc (not for gc --dry-run).`;

const HELP: Record<string, string> = {
  status:
    "usage: workers status [--json]\n  Queue depth by status, dead letters with their last errors, oldest pending age, expired leases,\n  tasks with many attempts, GC candidates, projects due a snapshot, signup cache age.",
  requeue:
    "usage: workers requeue (--all | TASK_ID...) [--json]\n  Puts dead-letter mirror tasks back to pending with attempts reset to 0 (lastError is kept).",
  gc: "usage: workers gc [--dry-run] [--ttl-days N] [--batch-size N] [--json]\n  Runs the canvas media GC. --dry-run deletes nothing and prints the candidates (id, key, size, age) and total bytes.\n  Defaults: MEDIA_GC_TTL_DAYS, MEDIA_GC_BATCH_SIZE. A real run needs ZATA_ENDPOINT, ZATA_BUCKET, ZATA_ACCESS_KEY_ID,\n  ZATA_SECRET_ACCESS_KEY (a dry run reads Firestore only). Exits 1 when an item failed, 2 when a setting is missing or wrong.",
  snapshot:
    "usage: workers snapshot [PROJECT_ID] [--force] [--batch-size N] [--json]\n  Snapshots the canvas projects that are due, or PROJECT_ID (if due, or always with --force).",
  "signup-cache": "usage: workers signup-cache refresh [--json]\n  Refreshes the signup page's image cache.",
  mirror: [
    "usage: workers mirror drain [--limit N] [--json]",
    "  Processes due mirror tasks, batch after batch of N (default 100), until none is due,",
    "  or a batch moves none of its tasks on (then it lists them, with why, and exits 1).",
    "usage: workers mirror backfill [--dry-run] [--uid UID] [--since DATE] [--rate N] [--json]",
    "  Walks every history item (or UID's, or those updated since DATE: 2024-05-01 or 2024-05-01T12:00:00Z)",
    "  and enqueues an upsert task for each one whose mirror doc is out of line, then applies it here.",
    `  At most N items a second (default ${DEFAULT_WALK_RATE}, at most ${MAX_WALK_RATE}). Resumable: stopped (Ctrl-C, SIGTERM),`,
    "  the next run of the same scope goes on from where it stopped. --dry-run lists what it would change.",
    "  Exits 0 when complete with every task done; 1 when stopped, busy (another run holds it), or a task was not done.",
    "usage: workers mirror verify [--repair] [--rate N] [--json]",
    "  Compares every history item with its mirror doc and every mirror doc with its item; prints counts",
    "  and a sample of each kind of drift. --repair enqueues an upsert for each fixable one and applies it here.",
    "  Exits 0 when in sync, 1 with drift (with --repair too: run it again to confirm) or when stopped.",
    "  Items the mirror cannot hold (conflict, tooLarge) are listed but do not make it exit 1.",
  ].join("\n"),
};

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new UsageError(`--${name} must be an integer, got "${value}"`);
  return Number(value);
}

function validated(data: Record<string, unknown>): RunWorkerRequest {
  const defined = Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined));
  const parsed = parseRunWorkerRequest(defined);
  // "since: since must be ..." names the field twice: once is enough.
  if (!parsed.ok)
    throw new UsageError(
      parsed.error
        .replace(/^(\w+): (?=\1 )/, "")
        .replace(/\b(ttlDays|batchSize|limit|projectId|force|uid|since)\b/g, (m) =>
          m === "projectId" ? "PROJECT_ID" : `--${m.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
        ),
    );
  return parsed.request;
}

export function parseCommand(argv: string[]): Command {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") return { kind: "help", text: USAGE };
  if (!(name in HELP)) throw new UsageError(`unknown command "${name}"\n${USAGE}`);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        all: { type: "boolean" },
        "dry-run": { type: "boolean" },
        force: { type: "boolean" },
        "ttl-days": { type: "string" },
        "batch-size": { type: "string" },
        limit: { type: "string" },
        uid: { type: "string" },
        since: { type: "string" },
        rate: { type: "string" },
        repair: { type: "boolean" },
      },
    });
  } catch (error) {
    throw new UsageError(`${errorMessage(error)}\n${HELP[name]}`);
  }
  const { values: v, positionals } = parsed;
  if (v.help) return { kind: "help", text: HELP[name] };
  const json = v.json === true;
  const allowed: Record<string, string[]> = {
    status: ["json"],
    requeue: ["json", "all"],
    gc: ["json", "dry-run", "ttl-days", "batch-size"],
    snapshot: ["json", "force", "batch-size"],
    "signup-cache": ["json"],
    "mirror drain": ["json", "limit"],
    "mirror backfill": ["json", "dry-run", "uid", "since", "rate"],
    "mirror verify": ["json", "repair", "rate"],
  };
  const command = name === "mirror" ? `mirror ${positionals[0] ?? ""}` : name;
  if (!(command in allowed))
    throw new UsageError(
      name === "mirror"
        ? `${positionals[0] === undefined ? "mirror needs a subcommand" : `unknown subcommand "mirror ${positionals[0]}"`}\n${HELP[name]}`
        : HELP[name],
    );
  const extra = Object.keys(v).filter((k) => !allowed[command].includes(k));
  if (extra.length) throw new UsageError(`${command} does not take --${extra.join(", --")}\n${HELP[name]}`);

  switch (name) {
    case "status":
      if (positionals.length) throw new UsageError(`status takes no arguments\n${HELP.status}`);
      return { kind: "status", json };
    case "requeue":
      if (v.all && positionals.length) throw new UsageError("requeue takes --all or task ids, not both");
      if (!v.all && !positionals.length) throw new UsageError(`requeue needs --all or at least one task id\n${HELP.requeue}`);
      for (const id of positionals) {
        const problem = documentIdProblem(id);
        if (problem) throw new UsageError(`task id "${id}" ${problem}`);
      }
      return { kind: "requeue", json, all: v.all === true, taskIds: positionals };
    case "gc":
      if (positionals.length) throw new UsageError(`gc takes no arguments\n${HELP.gc}`);
      return {
        kind: "run",
        json,
        request: validated({
          worker: "mediaGC",
          dryRun: v["dry-run"] === true,
          ttlDays: integer("ttl-days", v["ttl-days"]),
          batchSize: integer("batch-size", v["batch-size"]),
        }),
      };
    case "snapshot":
      if (positionals.length > 1) throw new UsageError(`snapshot takes at most one project id\n${HELP.snapshot}`);
      return {
        kind: "run",
        json,
        request: validated({
          worker: "snapshots",
          projectId: positionals[0],
          force: v.force,
          batchSize: integer("batch-size", v["batch-size"]),
        }),
      };
    case "signup-cache":
      if (positionals.join(" ") !== "refresh") throw new UsageError(HELP["signup-cache"]);
      return { kind: "run", json, request: { worker: "signupImageCache" } };
    default:
      return parseMirror(positionals, v, json);
  }
}

function walkRate(value: string | undefined): number | undefined {
  const rate = integer("rate", value);
  if (rate !== undefined && (rate < 1 || rate > MAX_WALK_RATE))
    throw new UsageError(`--rate must be from 1 to ${MAX_WALK_RATE} items a second, got ${rate}`);
  return rate;
}

/** The options `mirror` takes, as parseArgs typed them. */
interface MirrorOptions {
  limit?: string;
  rate?: string;
  uid?: string;
  since?: string;
  "dry-run"?: boolean;
  repair?: boolean;
}

function parseMirror(positionals: string[], v: MirrorOptions, json: boolean): Command {
  const [sub, ...rest] = positionals;
  if (rest.length) throw new UsageError(`mirror ${sub} takes no arguments\n${HELP.mirror}`);
  switch (sub) {
    case "drain":
      return { kind: "run", json, drain: true, request: validated({ worker: "mirrorQueue", limit: integer("limit", v.limit) }) };
    case "backfill":
      return {
        kind: "run",
        json,
        rate: walkRate(v.rate),
        request: validated({ worker: "mirrorBackfill", dryRun: v["dry-run"], uid: v.uid, since: v.since }),
      };
    default:
      return { kind: "run", json, rate: walkRate(v.rate), request: validated({ worker: "mirrorVerify", repair: v.repair }) };
  }
}
