import { MultiBar, Presets, type SingleBar } from "cli-progress";
import type { OnProgress, ProgressEvent } from "../core/progress";
import { duration } from "./format";

/**
 * How the CLI shows the core's progress events: on a terminal, a bar (cli-progress) with counts,
 * rate and ETA, redrawn in place about ten times a second, with log lines written above it;
 * otherwise plain lines, at most one a second per phase plus the last one, that a log file or CI
 * keeps readably. Rate and ETA are the phase's average so far, the same in both.
 */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressDisplay {
  onProgress: OnProgress;
  /** A line for the operator (a log entry): above the bar on a terminal. */
  log(line: string): void;
  /** Ends the display: the bar stays as last drawn, or the last unwritten line is written. Idempotent. */
  stop(): void;
}

export interface DisplayOptions {
  /** The clock for rates and line times (ms). */
  now?: () => number;
  /** Plain mode: the least time between two lines of one phase. */
  lineIntervalMs?: number;
}

export function createProgressDisplay(stream: ProgressStream, options: DisplayOptions = {}): ProgressDisplay {
  const now = options.now ?? Date.now;
  return stream.isTTY === true ? new BarDisplay(stream, now) : new LineDisplay(stream, now, options.lineIntervalMs ?? 1000);
}

/** A phase as the display tracks it: when it started and from which count, for the rate. */
interface Phase {
  key: string;
  startMs: number;
  startDone: number;
}

const number = (n: number) => n.toLocaleString("en-US");
const phaseKey = (e: ProgressEvent) => `${e.run}: ${e.phase}`;
const countsText = (counts: Record<string, number>) =>
  Object.entries(counts)
    .filter(([, n]) => n !== 0)
    .map(([k, n]) => `${k}=${number(n)}`)
    .join(" ");

/** Units a second since the phase started, or undefined before a second has passed. */
function rateOf(phase: Phase, e: ProgressEvent, nowMs: number): number | undefined {
  const seconds = (nowMs - phase.startMs) / 1000;
  return seconds >= 1 ? (e.done - phase.startDone) / seconds : undefined;
}

const rateText = (rate: number | undefined) => (rate === undefined ? "-" : rate >= 100 ? number(Math.round(rate)) : rate.toFixed(1));

/** The total to show: the estimate, or what is done when the run passed it (work arrived meanwhile). */
const totalOf = (e: ProgressEvent) => (e.total === undefined ? undefined : Math.max(e.total, e.done));

/** The time left at the phase's rate so far: "-" until there is a rate. */
function etaText(e: ProgressEvent, rate: number | undefined): string {
  const total = totalOf(e);
  if (total === undefined || e.done >= total) return "0 s";
  return rate ? duration(Math.round(((total - e.done) / rate) * 1000)) : "-";
}

class LineDisplay implements ProgressDisplay {
  private phase?: Phase;
  private last?: { event: ProgressEvent; written: boolean; atMs: number };
  private lastLineMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly stream: ProgressStream,
    private readonly now: () => number,
    private readonly intervalMs: number,
  ) {}

  onProgress = (e: ProgressEvent): void => {
    const nowMs = this.now();
    if (this.phase?.key !== phaseKey(e)) {
      this.flush();
      this.phase = { key: phaseKey(e), startMs: nowMs, startDone: e.done };
      this.lastLineMs = Number.NEGATIVE_INFINITY;
    }
    this.last = { event: e, written: false, atMs: nowMs };
    if (nowMs - this.lastLineMs >= this.intervalMs) this.flush();
  };

  log(line: string): void {
    // The progress a log line follows is written before it, so the lines read in the order things happened.
    this.flush();
    this.stream.write(`${line}\n`);
  }

  stop(): void {
    this.flush();
  }

  private flush(): void {
    const last = this.last;
    if (!last || last.written || !this.phase) return;
    last.written = true;
    this.lastLineMs = last.atMs;
    this.stream.write(`${new Date(last.atMs).toISOString().slice(11, 19)} ${this.line(this.phase, last.event, last.atMs)}\n`);
  }

  private line(phase: Phase, e: ProgressEvent, nowMs: number): string {
    const rate = rateOf(phase, e, nowMs);
    const total = totalOf(e);
    const of =
      total === undefined ? number(e.done) : `${number(e.done)}/${number(total)} (${total ? Math.floor((e.done / total) * 100) : 100}%)`;
    const eta = total !== undefined ? ` ETA ${etaText(e, rate)}` : "";
    const counts = countsText(e.counts);
    return `${phaseKey(e)} ${of} ${rateText(rate)}/s${eta}${counts ? ` | ${counts}` : ""}`;
  }
}

const BAR_FORMAT = "{title} |{bar}| {percentage}% {value}/{total} | {rate}/s | ETA {left} | {counts}";
const COUNTER_FORMAT = "{title} {value} | {rate}/s | {counts}";

class BarDisplay implements ProgressDisplay {
  private bars?: MultiBar;
  private current?: { phase: Phase; bar: SingleBar };

  constructor(
    private readonly stream: ProgressStream,
    private readonly now: () => number,
  ) {}

  onProgress = (e: ProgressEvent): void => {
    const nowMs = this.now();
    this.bars ??= new MultiBar(
      // cli-progress writes escape codes through the stream; any writable with isTTY will do.
      { stream: this.stream as NodeJS.WritableStream, hideCursor: true, autopadding: true, barsize: 30, etaBuffer: 30, format: BAR_FORMAT },
      Presets.shades_classic,
    );
    if (this.current?.phase.key !== phaseKey(e)) {
      this.current?.bar.stop();
      const bar = this.bars.create(
        e.total ?? 0,
        e.done,
        this.payload(e, undefined),
        e.total === undefined ? { format: COUNTER_FORMAT } : {},
      );
      this.current = { phase: { key: phaseKey(e), startMs: nowMs, startDone: e.done }, bar };
    }
    const { bar, phase } = this.current;
    const total = totalOf(e);
    if (total !== undefined) bar.setTotal(total);
    bar.update(e.done, this.payload(e, rateOf(phase, e, nowMs)));
  };

  log(line: string): void {
    if (this.bars) this.bars.log(`${line}\n`);
    else this.stream.write(`${line}\n`);
  }

  stop(): void {
    // A redraw first: it writes the log lines still buffered, which stop() alone would drop.
    this.bars?.update();
    this.bars?.stop();
    this.bars = undefined;
    this.current = undefined;
  }

  /** The bar's own ETA is cli-progress's guess from its last few updates; this one is the phase's, as in plain lines. */
  private payload(e: ProgressEvent, rate: number | undefined) {
    return { title: phaseKey(e), rate: rateText(rate), left: etaText(e, rate), counts: countsText(e.counts) || "-" };
  }
}
