import { Timestamp, type DocumentReference, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import type { WorkerDeps } from "../deps";
import { AESTHETIC_SCORE_RANGE } from "./aestheticScore";
import { entriesOf, SIGNUP_CACHE_DOC, type CachedImage } from "./cacheEntries";

/**
 * The signup page reads one doc, signupImageCache/current. A refresh takes the highest-scored
 * public generations (an indexed query ordered by aestheticScore), up to `maxPerGeneration`
 * images from each, and replaces the doc in one transaction that re-reads the chosen mirror docs:
 * one unpublished since the query ran is left out, so the refresh never puts back what the mirror
 * just removed. Finding nothing, or failing, leaves the previous cache in place: the page never
 * sees an empty or partial cache from a refresh.
 */
export interface SignupCacheOptions {
  /** Images in the cache. */
  limit?: number;
  /** Lowest aestheticScore admitted. */
  minScore?: number;
  maxPerGeneration?: number;
}

export const SIGNUP_CACHE_DEFAULTS = { limit: 24, minScore: 6, maxPerGeneration: 2 } as const;
const MAX_PAGES = 5;

export type { CachedImage };

export interface SignupCacheReport {
  refreshed: boolean;
  count: number;
  scanned: number;
  /** Why the previous cache was kept. */
  reason?: string;
  durationMs: number;
}

/** Mirror docs scored from `minScore` to the top of AESTHETIC_SCORE_RANGE, best first: a score above the range never ranks. */
export function signupCacheQuery(db: FirebaseFirestore.Firestore, minScore: number, pageSize: number) {
  return db
    .collection(COLLECTIONS.publicGenerations)
    .where("aestheticScore", ">=", minScore)
    .where("aestheticScore", "<=", AESTHETIC_SCORE_RANGE.max)
    .orderBy("aestheticScore", "desc")
    .limit(pageSize);
}

/** The mirror docs whose images fill the cache, best first. */
async function chooseDocs(
  deps: WorkerDeps,
  limit: number,
  minScore: number,
  maxPerGeneration: number,
  skipped: string[],
): Promise<{ chosen: DocumentReference[]; scanned: number }> {
  const chosen: DocumentReference[] = [];
  let images = 0;
  let scanned = 0;
  let cursor: QueryDocumentSnapshot | undefined;
  // Private or image-less docs are skipped, so a page may yield fewer images than it holds.
  for (let page = 0; page < MAX_PAGES && images < limit; page++) {
    let query = signupCacheQuery(deps.db, minScore, limit);
    if (cursor) query = query.startAfter(cursor);
    const snap = await query.get();
    scanned += snap.size;
    for (const doc of snap.docs) {
      const n = entriesOf(doc.id, doc.data(), maxPerGeneration, skipped).length;
      if (n > 0 && images < limit) chosen.push(doc.ref);
      images += n;
    }
    if (snap.size < limit) break;
    cursor = snap.docs[snap.docs.length - 1];
  }
  return { chosen, scanned };
}

export async function refreshSignupImageCache(deps: WorkerDeps, options: SignupCacheOptions = {}): Promise<SignupCacheReport> {
  const { db, clock, logger } = deps;
  const { limit, minScore, maxPerGeneration } = { ...SIGNUP_CACHE_DEFAULTS, ...options };
  const started = clock.now();
  const skipped: string[] = [];
  const { chosen, scanned } = await chooseDocs(deps, limit, minScore, maxPerGeneration, skipped);
  if (skipped.length)
    logger.warn("signupCache.images_skipped", { reason: "too large to cache", images: skipped.slice(0, 20), count: skipped.length });
  const cacheRef = db.collection(COLLECTIONS.signupImageCache).doc(SIGNUP_CACHE_DOC);
  const count = !chosen.length
    ? 0
    : await db.runTransaction(async (tx) => {
        const docs = await tx.getAll(...chosen);
        const images = docs
          .filter((d) => d.exists)
          .flatMap((d) => entriesOf(d.id, d.data()!, maxPerGeneration))
          .filter((e) => e.aestheticScore >= minScore)
          .slice(0, limit);
        if (images.length) tx.set(cacheRef, { images, count: images.length, refreshedAt: Timestamp.fromMillis(clock.now()), minScore });
        return images.length;
      });
  const durationMs = clock.now() - started;
  if (count === 0) {
    const report = { refreshed: false, count: 0, scanned, reason: `no public image with aestheticScore >= ${minScore}`, durationMs };
    logger.warn("signupCache.kept", { ...report });
    return report;
  }
  const report = { refreshed: true, count, scanned, durationMs };
  logger.info("signupCache.refreshed", { ...report });
  return report;
}
