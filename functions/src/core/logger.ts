import { serializeError } from "./errors";

/**
 * Structured logging: every entry is one JSON object with `severity` and `message` (the event name),
 * the shape Cloud Logging parses from stdout. Standalone processes write it to stdout/stderr
 * (`stdoutSink`); deployed functions hand it to firebase-functions/logger (runtime/functionsLogSink.ts),
 * which adds the request's trace and puts an error's stack where Error Reporting finds it.
 */
export const severities = ["DEBUG", "INFO", "WARNING", "ERROR"] as const;
export type Severity = (typeof severities)[number];
export type LogFields = Record<string, unknown>;
/** One log entry; Error values in fields are already serialized (name, message, stack, cause). */
export type LogEntry = LogFields & { severity: Severity; message: string; time: string };

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger whose lines all carry `fields` (worker name, run id, task id...). */
  child(fields: LogFields): Logger;
}

export type LogSink = (entry: LogEntry) => void;

/**
 * Where a log line comes from, on every line of a process or function: `entryPoint`, the exported
 * function, standalone process or CLI that runs; `worker`, the job it runs (the names of the
 * runWorker request's `worker`: mirrorQueue, snapshots, mediaGC, ...).
 */
export interface LogOrigin {
  entryPoint: string;
  worker?: string;
}

const rank: Record<Severity, number> = { DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3 };

/** One JSON line per entry; warnings and errors on stderr. */
export const stdoutSink: LogSink = (entry) => {
  (entry.severity === "ERROR" || entry.severity === "WARNING" ? process.stderr : process.stdout).write(JSON.stringify(entry) + "\n");
};

export function createLogger(options: { sink?: LogSink; minSeverity?: Severity; fields?: LogFields } = {}): Logger {
  const sink = options.sink ?? stdoutSink;
  const min = rank[options.minSeverity ?? "INFO"];
  const base = options.fields ?? {};
  const write = (severity: Severity, message: string, fields: LogFields = {}) => {
    if (rank[severity] < min) return;
    const entry: LogEntry = { severity, message, time: new Date().toISOString(), ...base };
    for (const [k, v] of Object.entries(fields)) entry[k] = serializeError(v);
    sink(entry);
  };
  return {
    debug: (m, f) => write("DEBUG", m, f),
    info: (m, f) => write("INFO", m, f),
    warn: (m, f) => write("WARNING", m, f),
    error: (m, f) => write("ERROR", m, f),
    child: (fields) => createLogger({ sink, minSeverity: options.minSeverity, fields: { ...base, ...fields } }),
  };
}

/**
 * A log entry as one readable line for a terminal: `WARNING task.invalid taskId=... error=...`
 * (INFO unprefixed, nested fields left out, and the origin fields, which the terminal knows).
 */
export function humanLogLine(entry: LogFields): string {
  const { message, severity, time: _time, worker: _worker, entryPoint: _entryPoint, ...fields } = entry;
  const kv = Object.entries(fields)
    .filter(([, v]) => typeof v !== "object")
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return `${severity === "INFO" ? "" : `${severity} `}${message} ${kv}`;
}
