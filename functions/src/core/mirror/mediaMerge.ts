/**
 * "Smart merging" of images/videos (docs/DATA_MODEL.md): other processes add optimization fields
 * (thumbnailUrl, avifUrl) to the mirror after the fact; a later update that replaces the array
 * must not drop them. An incoming item inherits each optimization field it does not set itself
 * from the existing item it matches: by `id`, else by `url`, else by `storagePath`.
 */
export const OPTIMIZATION_FIELDS = ["thumbnailUrl", "avifUrl"] as const;
export const MEDIA_FIELDS = ["images", "videos"] as const;

type MediaItem = Record<string, unknown>;

const isItem = (v: unknown): v is MediaItem => typeof v === "object" && v !== null && !Array.isArray(v);

function sameItem(a: MediaItem, b: MediaItem): boolean {
  for (const key of ["id", "url", "storagePath"]) {
    const x = a[key];
    const y = b[key];
    if (typeof x === "string" && x !== "" && typeof y === "string" && y !== "") return x === y;
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
export function mergeMediaFields(existing: Record<string, unknown> | undefined, incoming: Record<string, unknown>): Record<string, unknown> {
  if (!existing) return incoming;
  const out = { ...incoming };
  for (const field of MEDIA_FIELDS) {
    if (field in incoming) out[field] = mergeMediaList(existing[field], incoming[field]);
  }
  return out;
}
