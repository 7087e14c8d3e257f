import { Timestamp, type Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { countOf } from "../count";
import type { WorkerConfig } from "../config";
import { getMediaGCHealth, type MediaGCHealth } from "../mediaGC/health";
import { getQueueStatus, type QueueStatus } from "../mirror/queueStatus";
import { countersDueByAgeQuery, countersDueByOpsQuery } from "../snapshots/candidates";
import { readFailingProjects, type FailingProjects } from "../snapshots/failures";
import { claimLimits } from "../mirror/claim";

/**
 * Everything an operator asks at night, in one read-mostly pass: count aggregations, plus the
 * media GC's oldest candidates (up to 1,000 docs), judged as a run would judge them.
 */
export interface SystemHealth {
  queue: QueueStatus;
  mediaGC: MediaGCHealth;
  snapshots: { dueByOps: number; dueByAge: number; failing: FailingProjects };
  signupCache: { refreshedAt: string | null; ageMs: number | null; count: number };
}

export async function getSystemHealth(db: Firestore, config: WorkerConfig, nowMs: number): Promise<SystemHealth> {
  const [queue, mediaGC, dueByOps, dueByAge, failing, cache] = await Promise.all([
    getQueueStatus(db, nowMs, claimLimits(config)),
    getMediaGCHealth(db, nowMs, config.MEDIA_GC_TTL_DAYS),
    countOf(countersDueByOpsQuery(db, config.SNAPSHOT_MAX_OPS)),
    countOf(countersDueByAgeQuery(db, Timestamp.fromMillis(nowMs - config.SNAPSHOT_MAX_HOURS * 3600_000))),
    readFailingProjects(db),
    db.collection(COLLECTIONS.signupImageCache).doc("current").get(),
  ]);
  const refreshedAt = cache.get("refreshedAt");
  return {
    queue,
    mediaGC,
    snapshots: { dueByOps, dueByAge, failing },
    signupCache:
      refreshedAt instanceof Timestamp
        ? { refreshedAt: refreshedAt.toDate().toISOString(), ageMs: nowMs - refreshedAt.toMillis(), count: cache.get("count") ?? 0 }
        : { refreshedAt: null, ageMs: null, count: 0 },
  };
}
