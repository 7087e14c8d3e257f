import { isDeepStrictEqual } from "node:util";

/**
 * The entries of signupImageCache/current, and how they follow the mirror. The cache is a public
 * copy of mirror docs, so it may never show what the mirror no longer shows: the refresh builds it
 * from mirror docs, and every mirror change that unpublishes an item or changes its images or
 * score passes through `followMirror` in the same transaction.
 */
export interface CachedImage {
  id: string;
  historyId: string;
  url: string;
  thumbnailUrl?: string;
  avifUrl?: string;
  aestheticScore: number;
}

type Doc = Record<string, unknown>;

export const SIGNUP_CACHE_DOC = "current";

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** The cacheable images of one mirror doc (up to `maxPerGeneration`); none when it is not public or not scored. */
export function entriesOf(historyId: string, data: Doc, maxPerGeneration: number): CachedImage[] {
  // The mirror holds only public items; checking again costs nothing and keeps a bad doc off the signup page.
  if (data.isPublic !== true || data.isDeleted === true) return [];
  const score = data.aestheticScore;
  if (typeof score !== "number" || !Number.isFinite(score)) return [];
  const images = Array.isArray(data.images) ? data.images : [];
  const out: CachedImage[] = [];
  for (const [index, image] of images.entries()) {
    const url = str(image?.url);
    if (!url) continue;
    const entry: CachedImage = { id: `${historyId}:${str(image.id) ?? index}`, historyId, url, aestheticScore: score };
    const thumbnailUrl = str(image.thumbnailUrl);
    const avifUrl = str(image.avifUrl);
    if (thumbnailUrl) entry.thumbnailUrl = thumbnailUrl;
    if (avifUrl) entry.avifUrl = avifUrl;
    out.push(entry);
    if (out.length >= maxPerGeneration) break;
  }
  return out;
}

/**
 * The cache after one mirror doc changed: its entries are rebuilt from the mirror doc as it is now
 * (none when it was removed, never more than it had, none below the cache's `minScore`), in place.
 * Returns undefined when the cache does not list the item or nothing changes, so no write is needed.
 */
export function followMirror(cache: Doc | undefined, historyId: string, mirrorAfter: Doc | undefined): Doc | undefined {
  const images: unknown[] = Array.isArray(cache?.images) ? cache.images : [];
  const listed = (e: unknown) => (e as Doc | null)?.historyId === historyId;
  const first = images.findIndex(listed);
  if (first < 0) return undefined;
  const minScore = typeof cache!.minScore === "number" ? cache!.minScore : Number.NEGATIVE_INFINITY;
  const rebuilt = mirrorAfter ? entriesOf(historyId, mirrorAfter, images.filter(listed).length).filter((e) => e.aestheticScore >= minScore) : [];
  const next = [...images.slice(0, first).filter((e) => !listed(e)), ...rebuilt, ...images.slice(first).filter((e) => !listed(e))];
  if (isDeepStrictEqual(next, images)) return undefined;
  return { ...cache, images: next, count: next.length };
}
