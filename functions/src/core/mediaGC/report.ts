/** What a media GC run reports (the runWorker callable and the CLI print it). */

/**
 * Entries a report lists at most (`candidates`, `failed`), and characters of a failure's reason:
 * a backlog of a million, or a store's megabyte error message, must not blow the process's memory
 * or the callable's answer (a few MB at most). The counts are whole.
 */
export const GC_REPORT_LIST_LIMIT = 1000;
export const GC_REASON_MAX_CHARS = 1000;
export interface MediaCandidate {
  id: string;
  storageKey: string;
  size: number | null;
  ageDays: number;
}

interface MediaGCRunReport {
  runId: string;
  ttlDays: number;
  scanned: number;
  /** Candidates left alone, by reason: see eligibility.ts, plus changed-since-read and shared-key-busy. */
  skipped: Record<string, number>;
  batches: number;
  /** False when the time budget or a storage failure ended the run before the garbage did. */
  complete: boolean;
  /** Why an incomplete run stopped. */
  stoppedBy?: string;
  durationMs: number;
}

/** A dry run: what a real run would delete, and the bytes it would free. Nothing was written. */
export interface MediaGCDryRunReport extends MediaGCRunReport {
  dryRun: true;
  /** What a real run would consider, oldest first: the first GC_REPORT_LIST_LIMIT of `candidateCount`. */
  candidates: MediaCandidate[];
  candidateCount: number;
  bytesFreed: number;
}

export interface MediaGCDeleteReport extends MediaGCRunReport {
  dryRun: false;
  /** Media records deleted (each after its object, or without it when another record names the object). */
  deleted: number;
  /** The first GC_REPORT_LIST_LIMIT of the `failedCount` items that failed (reasons cut at GC_REASON_MAX_CHARS). */
  failed: { id: string; storageKey: string; reason: string }[];
  failedCount: number;
  /** Records deleted whose object was kept because another media doc names the same storageKey. */
  sharedObjectsKept: number;
  bytesFreed: number;
}

/** A media GC run's report, keyed by `dryRun`. */
export type MediaGCReport = MediaGCDryRunReport | MediaGCDeleteReport;

export function countSkip(report: MediaGCReport, reason: string, n = 1): void {
  report.skipped[reason] = (report.skipped[reason] ?? 0) + n;
}

/** Whether a run did all it had to: it reached the end of the garbage and no item failed (the CLI exits 1 otherwise). */
export const gcRunSucceeded = (report: MediaGCReport): boolean => report.complete && (report.dryRun || report.failedCount === 0);
