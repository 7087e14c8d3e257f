/** What a media GC run reports (the runWorker callable and the CLI print it). */
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
  candidates: MediaCandidate[];
  bytesFreed: number;
}

export interface MediaGCDeleteReport extends MediaGCRunReport {
  dryRun: false;
  /** Media records deleted (each after its object, or without it when another record names the object). */
  deleted: number;
  failed: { id: string; storageKey: string; reason: string }[];
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
export const gcRunSucceeded = (report: MediaGCReport): boolean => report.complete && (report.dryRun || report.failed.length === 0);
