/**
 * Deployed functions log through firebase-functions/logger: one JSON line in its format, and an ERROR
 * line's message carries the stack (with causes), which is what Error Reporting needs. Run as a
 * process because the SDK's logger writes with the console it captured when it loaded.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";

const LIB = join(__dirname, "../../lib");

async function logLines(code: string): Promise<Record<string, unknown>[]> {
  const script = `const { createLogger } = require(${JSON.stringify(join(LIB, "core/logger"))});
const { functionsLogSink } = require(${JSON.stringify(join(LIB, "runtime/functionsLogSink"))});
const logger = createLogger({ sink: functionsLogSink, fields: { worker: "mediaGC" } });
${code}`;
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
    execFile(process.execPath, ["-e", script], (error, stdout, stderr) => (error ? reject(error) : resolve({ stdout, stderr }))),
  );
  return (stdout + stderr)
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

it("writes an error with its stack and cause in the message, and the fields beside it", async () => {
  const [entry] = await logLines(
    `logger.error("gc.item_failed", { mediaId: "m1", error: new Error("delete failed", { cause: new Error("socket hang up") }) });`,
  );
  expect(entry).toMatchObject({ severity: "ERROR", worker: "mediaGC", mediaId: "m1", error: { name: "Error", message: "delete failed" } });
  expect(entry.message).toMatch(/^gc\.item_failed Error: delete failed\n {4}at /);
  expect(entry.message).toContain("[cause]: Error: socket hang up\n    at ");
  expect(entry).not.toHaveProperty("time");
});

it("gives an error without an Error object the stack of the logging call, as firebase-functions does", async () => {
  const [entry] = await logLines(`logger.error("gc.stuck", { runId: "r" });`);
  expect(entry.message).toMatch(/^Error: gc\.stuck\n {4}at /);
});

it("writes other severities as the event and its fields", async () => {
  const entries = await logLines(`logger.info("gc.done", { deleted: 3 }); logger.warn("gc.slow", { ms: 9 });`);
  expect(entries).toEqual([
    { severity: "INFO", message: "gc.done", worker: "mediaGC", deleted: 3 },
    { severity: "WARNING", message: "gc.slow", worker: "mediaGC", ms: 9 },
  ]);
});
