import { write } from "firebase-functions/logger";
import type { LogEntry, LogSink } from "../core/logger";

type SerializedError = { name: string; message: string; stack?: string; cause?: unknown };

const isSerializedError = (v: unknown): v is SerializedError =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as SerializedError).name === "string" &&
  typeof (v as SerializedError).message === "string" &&
  "stack" in v;

function stackWithCauses(error: SerializedError): string {
  const own = error.stack ?? `${error.name}: ${error.message}`;
  return isSerializedError(error.cause) ? `${own}\n  [cause]: ${stackWithCauses(error.cause)}` : own;
}

/**
 * The ERROR message firebase-functions' `logger.error(event, error)` writes: the event, then the
 * error's stack (with its causes'); without an error, the stack of the logging call. A stack in
 * `message` is what Error Reporting needs to pick the entry up.
 */
export function errorReportingMessage(entry: LogEntry): string {
  const error = Object.values(entry).find(isSerializedError);
  return error ? `${entry.message} ${stackWithCauses(error)}` : (new Error(entry.message).stack ?? entry.message);
}

/**
 * Deployed functions log through firebase-functions/logger, which writes the entry in its format
 * (`{ ...fields, severity, message }`, one JSON line) and adds the request's trace id. Cloud Logging
 * stamps the time itself.
 */
export const functionsLogSink: LogSink = ({ time: _time, ...entry }) => {
  write(entry.severity === "ERROR" ? { ...entry, message: errorReportingMessage(entry as LogEntry) } : entry);
};
