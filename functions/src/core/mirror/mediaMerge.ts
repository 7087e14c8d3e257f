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

const isItem = (v: unknown): v is MediaItem => typeof v === "object" && v !== null && !Array.isArray(v);
const key = (item: MediaItem, name: string) => (typeof item[name] === "string" && item[name] !== "" ? (item[name] as string) : undefined);

function sameItem(a: MediaItem, b: MediaItem): boolean {
  for (const name of ["id", "storagePath", "url"]) {
    const x = key(a, name);
    const y = key(b, name);
    if (x !== undefined && y !== undefined) return x === y;
  }
  return false;
}

export function mergeMediaList(existing: unknown, incoming: unknown): unknown {
  if (!Array.isArray(incoming) || !Array.isArray(existing)) return incoming;
  const previous = existing.filter(isItem);
  return incoming.map((item) => {
    if (!isItem(item)) return item;
    const match = previous.find((old) => sameItem(item, old));
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
