import type { ProgressEvent } from "../../src/core/progress";
import { createProgressDisplay, type ProgressStream } from "../../src/cli/progress";

/** The CLI's progress display, in-process: a terminal faked by a stream whose isTTY is true, and plain lines otherwise. */
function stream(isTTY: boolean): ProgressStream & { output: string } {
  const s = { isTTY, columns: 200, output: "", write: (text: string) => ((s.output += text), true) };
  return s;
}

const event = (done: number, over: Partial<ProgressEvent> = {}): ProgressEvent => ({
  run: "mirror backfill",
  phase: "history items",
  done,
  total: 1000,
  counts: { enqueued: done / 10, matching: 0 },
  ...over,
});

describe("not a terminal: plain lines", () => {
  it("one line per phase a second at most, with counts, percentage, rate and ETA, and the last one at stop; no escape codes", () => {
    let now = Date.UTC(2024, 4, 1, 12, 0, 0);
    const out = stream(false);
    const display = createProgressDisplay(out, { now: () => now, lineIntervalMs: 1000 });
    display.onProgress(event(0));
    now += 400;
    display.onProgress(event(100)); // within the second: not written yet
    now += 1600;
    display.onProgress(event(200));
    display.log("12:00:02 a log line");
    now += 500;
    display.onProgress(event(300));
    display.stop();
    expect(out.output.split("\n")).toEqual([
      "12:00:00 mirror backfill: history items 0/1,000 (0%) -/s ETA -",
      "12:00:02 mirror backfill: history items 200/1,000 (20%) 100/s ETA 8 s | enqueued=20",
      "12:00:02 a log line",
      "12:00:02 mirror backfill: history items 300/1,000 (30%) 120/s ETA 6 s | enqueued=30",
      "",
    ]);
  });

  it("a log line comes after the progress it follows: the last progress line is written before it, not at stop", () => {
    let now = 0;
    const out = stream(false);
    const display = createProgressDisplay(out, { now: () => now, lineIntervalMs: 1000 });
    display.onProgress(event(100));
    now = 200;
    display.onProgress(event(1000));
    display.log("mirror.verify.completed");
    display.stop();
    const lines = out.output.trim().split("\n");
    expect(lines.map((l) => (l.includes("1,000/1,000") ? "last progress" : l.includes("completed") ? "log" : "other"))).toEqual([
      "other",
      "last progress",
      "log",
    ]);
  });

  it("a new phase writes the last line of the one before and restarts the rate; an unknown total shows a count", () => {
    let now = 0;
    const out = stream(false);
    const display = createProgressDisplay(out, { now: () => now });
    display.onProgress(event(10, { phase: "history items", total: 10 }));
    now += 100;
    display.onProgress(event(20, { run: "mirror drain", phase: "tasks", total: undefined, counts: { done: 20 } }));
    now += 2000;
    display.onProgress(event(60, { run: "mirror drain", phase: "tasks", total: undefined, counts: { done: 60 } }));
    display.stop();
    display.stop();
    const lines = out.output
      .trim()
      .split("\n")
      .map((l) => l.slice(9));
    expect(lines).toEqual([
      "mirror backfill: history items 10/10 (100%) -/s ETA 0 s | enqueued=1",
      "mirror drain: tasks 20 -/s | done=20",
      "mirror drain: tasks 60 20.0/s | done=60",
    ]);
  });
});

describe("a terminal: a bar", () => {
  // cli-progress redraws on its own timer (10 a second); a wait longer than that lets it draw.
  const redraw = () => new Promise((resolve) => setTimeout(resolve, 250));

  it("draws the bar in place with counts, rate and ETA, writes log lines above it, and shows the cursor again at stop", async () => {
    let now = 0;
    const out = stream(true);
    const display = createProgressDisplay(out, { now: () => now });
    display.onProgress(event(0));
    now += 2000;
    display.onProgress(event(500));
    await redraw();
    display.log("12:00:02 WARNING task.failed taskId=t1");
    now += 1000;
    display.onProgress(event(1000, { counts: { enqueued: 100, conflicts: 2 } }));
    display.log("12:00:03 the last line before the end");
    display.stop();
    expect(out.output).toContain("\x1b[?25l");
    expect(out.output).toContain("\x1b[?25h");
    expect(out.output).toMatch(
      /mirror backfill: history items \|[\u2588]{15}[\u2591]{15}\| {2}50% 500\/1000 \| 250\/s \| ETA 2 s \| enqueued=50/,
    );
    expect(out.output).toMatch(
      /mirror backfill: history items \|[\u2588]{30}\| 100% 1000\/1000 \| 333\/s \| ETA 0 s \| enqueued=100 conflicts=2/,
    );
    expect(out.output).toContain("12:00:02 WARNING task.failed taskId=t1\n");
    expect(out.output).toContain("12:00:03 the last line before the end\n");
  });
});
