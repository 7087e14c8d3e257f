import { createLogger, humanLogLine } from "../../src/core/logger";

/** The terminal rendering shared by the CLI's progress lines and `npm run local`. */
describe("humanLogLine", () => {
  const render = (log: (logger: ReturnType<typeof createLogger>) => void) => {
    const entries: Record<string, unknown>[] = [];
    log(createLogger({ sink: (e) => entries.push(e), fields: { entryPoint: "cli", worker: "mirrorQueue" } }));
    return humanLogLine(entries[0]);
  };

  it("prints the event and its flat fields, without time, origin (entry point, worker) or an INFO prefix", () => {
    expect(render((l) => l.info("mirror.drain.batch", { batch: 2, found: 12, done: 11 }))).toBe(
      "mirror.drain.batch batch=2 found=12 done=11",
    );
  });

  it("prefixes other severities and leaves nested fields out", () => {
    expect(render((l) => l.warn("task.invalid", { taskId: "t1", detail: { op: "x" } }))).toBe("WARNING task.invalid taskId=t1");
  });
});
