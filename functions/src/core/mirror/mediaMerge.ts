/**
 * "Smart merging" of images/videos: other processes add optimization fields (thumbnailUrl,
 * avifUrl) to the mirror after the fact; a later write that replaces the array must not drop them.
 * An incoming item inherits each optimization field it does not set itself from the existing item
 * it matches: by `id` when both have one, else by `storagePath` (a file replaced at the same path
 * gets a new download-URL token, and is still the same file), else by `url`.
 */
export const OPTIMIZATION_FIELDS = ["thumbnailUrl", "avifUrl"] as const;
export const MEDIA_FIELDS = ["images", "videos"] as const;

type MediaItem = Record<string, unknown>;

/** The keys an item is matched by, in the order they decide. */
const MATCH_KEYS = ["id", "storagePath", "url"] as const;

const isItem = (v: unknown): v is MediaItem => typeof v === "object" && v !== null && !Array.isArray(v);
const key = (item: MediaItem, name: string) => (typeof item[name] === "string" && item[name] !== "" ? (item[name] as string) : undefined);

/** Which of MATCH_KEYS an item has, as bits (id 1, storagePath 2, url 4). */
const keysOf = (item: MediaItem) => MATCH_KEYS.reduce((bits, name, i) => (key(item, name) !== undefined ? bits | (1 << i) : bits), 0);

/**
 * The existing items, indexed so that each incoming item finds its match in constant time, however
 * long the lists (a source may hold tens of thousands of images: a scan per item would be quadratic
 * and stall the worker). The rule: two items are the same when, at the first of MATCH_KEYS both
 * have, their values are equal; an incoming item takes the first existing item that is the same.
 * The existing items are grouped by which keys they have (8 groups at most); within a group the
 * deciding key is fixed for a given incoming item, so a map per key finds the first match.
 */
class MatchIndex {
  private readonly groups = new Map<number, Map<string, Map<string, { at: number; item: MediaItem }>>>();

  constructor(existing: MediaItem[]) {
    existing.forEach((item, at) => {
      const bits = keysOf(item);
      let byKey = this.groups.get(bits);
      if (!byKey) this.groups.set(bits, (byKey = new Map()));
      for (const name of MATCH_KEYS) {
        const value = key(item, name);
        if (value === undefined) continue;
        let byValue = byKey.get(name);
        if (!byValue) byKey.set(name, (byValue = new Map()));
        if (!byValue.has(value)) byValue.set(value, { at, item });
      }
    });
  }

  find(item: MediaItem): MediaItem | undefined {
    const bits = keysOf(item);
    let first: { at: number; item: MediaItem } | undefined;
    for (const [groupBits, byKey] of this.groups) {
      const deciding = MATCH_KEYS.find((_, i) => (bits & groupBits & (1 << i)) !== 0);
      if (!deciding) continue;
      const found = byKey.get(deciding)?.get(key(item, deciding)!);
      if (found && (!first || found.at < first.at)) first = found;
    }
    return first?.item;
  }
}

export function mergeMediaList(existing: unknown, incoming: unknown): unknown {
  if (!Array.isArray(incoming) || !Array.isArray(existing)) return incoming;
  const index = new MatchIndex(existing.filter(isItem));
  return incoming.map((item) => {
    if (!isItem(item)) return item;
    const match = index.find(item);
    if (!match) return item;
    const merged: MediaItem = { ...item };
    for (const field of OPTIMIZATION_FIELDS) {
      if (!(field in item) && match[field] !== undefined) merged[field] = match[field];
    }
    return merged;
  });
}

/** `incoming` with its images/videos merged against the mirror's current ones. */
export function mergeMediaFields(
  existing: Record<string, unknown> | undefined,
  incoming: Record<string, unknown>,
): Record<string, unknown> {
  if (!existing) return incoming;
  const out = { ...incoming };
  for (const field of MEDIA_FIELDS) {
    if (field in incoming) out[field] = mergeMediaList(existing[field], incoming[field]);
  }
  return out;
}
