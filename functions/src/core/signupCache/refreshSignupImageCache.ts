import { Timestamp, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import type { WorkerDeps } from "../deps";

/**
 * The signup page reads one doc, signupImageCache/current. A refresh takes the highest-scored
 * public generations (an indexed query ordered by aestheticScore), up to `maxPerGeneration`
 * images from each, and replaces the doc in one write. Finding nothing, or failing, leaves the
 * previous cache in place: the page never sees an empty or partial cache.
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

export interface CachedImage {
  id: string;
  historyId: string;
  url: string;
  thumbnailUrl?: string;
  avifUrl?: string;
  aestheticScore: number;
}

export interface SignupCacheReport {
  refreshed: boolean;
  count: number;
  scanned: number;
  /** Why the previous cache was kept. */
  reason?: string;
  durationMs: number;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** The cacheable images of one mirror doc; none when the doc is not public. */
export function imagesOf(doc: QueryDocumentSnapshot, maxPerGeneration: number): CachedImage[] {
  const data = doc.data();
  // The mirror holds only public items; checking again costs nothing and keeps a bad doc off the signup page.
  if (data.isPublic !== true || data.isDeleted === true) return [];
  const score = data.aestheticScore;
  if (typeof score !== "number" || !Number.isFinite(score)) return [];
  const images = Array.isArray(data.images) ? data.images : [];
  const out: CachedImage[] = [];
  for (const [index, image] of images.entries()) {
    const url = str(image?.url);
    if (!url) continue;
    const entry: CachedImage = { id: `${doc.id}:${str(image.id) ?? index}`, historyId: doc.id, url, aestheticScore: score };
    const thumbnailUrl = str(image.thumbnailUrl);
    const avifUrl = str(image.avifUrl);
    if (thumbnailUrl) entry.thumbnailUrl = thumbnailUrl;
    if (avifUrl) entry.avifUrl = avifUrl;
    out.push(entry);
    if (out.length >= maxPerGeneration) break;
  }
  return out;
}

export function signupCacheQuery(db: FirebaseFirestore.Firestore, minScore: number, pageSize: number) {
  return db.collection(COLLECTIONS.publicGenerations).where("aestheticScore", ">=", minScore).orderBy("aestheticScore", "desc").limit(pageSize);
}

export async function refreshSignupImageCache(deps: WorkerDeps, options: SignupCacheOptions = {}): Promise<SignupCacheReport> {
  const { db, clock, logger } = deps;
  const { limit, minScore, maxPerGeneration } = { ...SIGNUP_CACHE_DEFAULTS, ...options };
  const started = clock.now();
  const images: CachedImage[] = [];
  let scanned = 0;
  let cursor: QueryDocumentSnapshot | undefined;
  // Private or image-less docs are skipped, so a page may yield fewer images than it holds.
  for (let page = 0; page < MAX_PAGES && images.length < limit; page++) {
    let query = signupCacheQuery(db, minScore, limit);
    if (cursor) query = query.startAfter(cursor);
    const snap = await query.get();
    scanned += snap.size;
    for (const doc of snap.docs) images.push(...imagesOf(doc, maxPerGeneration));
    if (snap.size < limit) break;
    cursor = snap.docs[snap.docs.length - 1];
  }
  const chosen = images.slice(0, limit);
  const durationMs = () => clock.now() - started;
  if (chosen.length === 0) {
    const report = { refreshed: false, count: 0, scanned, reason: `no public image with aestheticScore >= ${minScore}`, durationMs: durationMs() };
    logger.warn("signupCache.kept", { ...report });
    return report;
  }
  await db
    .collection(COLLECTIONS.signupImageCache)
    .doc("current")
    .set({ images: chosen, count: chosen.length, refreshedAt: Timestamp.fromMillis(clock.now()), minScore });
  const report = { refreshed: true, count: chosen.length, scanned, durationMs: durationMs() };
  logger.info("signupCache.refreshed", { ...report });
  return report;
}
