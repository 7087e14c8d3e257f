import { isDeepStrictEqual } from "node:util";
import { isAestheticScore } from "./aestheticScore";

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

/**
 * Each string an entry takes from a mirror doc is at most this long; an image whose `url` is longer
 * is not cached (and reported), a longer thumbnail/AVIF URL or image id is left out of its entry.
 * So an entry is at most about 8 KiB plus its historyId (at most 1,500 bytes), and the cache doc
 * (24 entries by default) stays far below Firestore's 1 MiB whatever the owners wrote.
 */
export const MAX_CACHED_STRING_CHARS = 2_048;

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" && v.length <= MAX_CACHED_STRING_CHARS ? v : undefined);
const tooLong = (v: unknown) => typeof v === "string" && v.length > MAX_CACHED_STRING_CHARS;

/**
 * The cacheable images of one mirror doc (up to `maxPerGeneration`); none when it is not public or
 * its score is not in AESTHETIC_SCORE_RANGE. `skipped` receives a line per image left out for its size.
 */
export function entriesOf(historyId: string, data: Doc, maxPerGeneration: number, skipped?: string[]): CachedImage[] {
  // The mirror holds only public items; checking again costs nothing and keeps a bad doc off the signup page.
  if (data.isPublic !== true || data.isDeleted === true) return [];
  const score = data.aestheticScore;
  if (!isAestheticScore(score)) return [];
  const images = Array.isArray(data.images) ? data.images : [];
  const out: CachedImage[] = [];
  for (const [index, image] of images.entries()) {
    if (tooLong(image?.url))
      skipped?.push(`${historyId.slice(0, 100)} image ${index}: url of ${image.url.length.toLocaleString("en-US")} characters`);
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
  const rebuilt = mirrorAfter
    ? entriesOf(historyId, mirrorAfter, images.filter(listed).length).filter((e) => e.aestheticScore >= minScore)
    : [];
  const next = [...images.slice(0, first).filter((e) => !listed(e)), ...rebuilt, ...images.slice(first).filter((e) => !listed(e))];
  if (isDeepStrictEqual(next, images)) return undefined;
  return { ...cache, images: next, count: next.length };
}
