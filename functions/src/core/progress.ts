import type { Logger } from "./logger";

/**
 * Progress of a long run, as events: the core emits them through an injected `onProgress`, and an
 * entry point shows them (the CLI's bar on a terminal, plain lines otherwise; nothing when nobody
 * listens). The core never draws anything and imports no display library.
 */
export interface ProgressEvent {
  /** The run, as an operator names it: "mirror backfill", "mirror verify", "mirror drain", "media GC". */
  run: string;
  /** What is being counted, e.g. "history items", "mirror docs", "tasks". A new phase starts a new count. */
  phase: string;
  /** Units done in this phase; a resumed run counts the units of its earlier invocations too. */
  done: number;
  /** Units the phase is expected to count, from a count aggregation at its start; undefined when unknown. `done` may pass it. */
  total?: number;
  /** What the units came to so far, by name (e.g. `enqueued`, `inSync`). */
  counts: Record<string, number>;
}

export type OnProgress = (event: ProgressEvent) => void;

/**
 * A phase's `total`, or undefined when it cannot be had. A total only informs the display, so it
 * never fails the run it describes: a count aggregation Firestore cannot finish (over millions of
 * index entries it passes its 60 s deadline) is logged as a warning and the run goes on without a
 * total. `count` should cap what it counts (COUNT_CAP) so its cost and time stay bounded.
 */
export async function progressTotal(logger: Logger, phase: string, count: () => Promise<number>): Promise<number | undefined> {
  try {
    return await count();
  } catch (error) {
    logger.warn("progress.total_failed", { phase, error });
    return undefined;
  }
}
