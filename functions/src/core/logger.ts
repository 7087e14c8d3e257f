import { serializeError } from "./errors";

/**
 * Structured logging: every line is one JSON object with `severity` and `message`, the shape
 * Cloud Logging parses from stdout and the one firebase-functions/logger writes, so the same
 * logger serves deployed functions and standalone processes.
 */
export type Severity = "DEBUG" | "INFO" | "WARNING" | "ERROR";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger whose lines all carry `fields` (worker name, run id, task id...). */
  child(fields: LogFields): Logger;
}

export type LogSink = (severity: Severity, line: string) => void;

const rank: Record<Severity, number> = { DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3 };

export const stdoutSink: LogSink = (severity, line) => {
  (severity === "ERROR" || severity === "WARNING" ? process.stderr : process.stdout).write(line + "\n");
};


export function createLogger(options: { sink?: LogSink; minSeverity?: Severity; fields?: LogFields } = {}): Logger {
  const sink = options.sink ?? stdoutSink;
  const min = rank[options.minSeverity ?? "INFO"];
  const base = options.fields ?? {};
  const write = (severity: Severity, message: string, fields: LogFields = {}) => {
    if (rank[severity] < min) return;
    const entry: LogFields = { severity, message, time: new Date().toISOString(), ...base };
    for (const [k, v] of Object.entries(fields)) entry[k] = serializeError(v);
    sink(severity, JSON.stringify(entry));
  };
  return {
    debug: (m, f) => write("DEBUG", m, f),
    info: (m, f) => write("INFO", m, f),
    warn: (m, f) => write("WARNING", m, f),
    error: (m, f) => write("ERROR", m, f),
    child: (fields) => createLogger({ sink, minSeverity: options.minSeverity, fields: { ...base, ...fields } }),
  };
}

/** A log entry as one readable line for a terminal: `WARNING task.invalid taskId=... error=...` (INFO unprefixed, nested fields left out). */
export function humanLogLine(entry: LogFields): string {
  const { message, severity, time: _time, worker: _worker, ...fields } = entry;
  const kv = Object.entries(fields)
    .filter(([, v]) => typeof v !== "object")
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return `${severity === "INFO" ? "" : `${severity} `}${message} ${kv}`;
}

export function severityFromEnv(value: string | undefined): Severity {
  const upper = (value ?? "").toUpperCase();
  if (upper === "WARN") return "WARNING";
  return upper in rank ? (upper as Severity) : "INFO";
}
