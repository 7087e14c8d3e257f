import { isDeepStrictEqual } from "node:util";
import { Timestamp, type Firestore } from "firebase-admin/firestore";

/**
 * The public mirror as the README defines it, computed here on its own (not with the workers'
 * drift.ts, which is under test): each history item that is public (`isPublic === true`,
 * `isDeleted` false or absent) has a mirror doc holding its public fields of the right type, the
 * publishing flags, its uid, historyId and createdBy from users/{uid}, and nothing else but the
 * workers' bookkeeping; no other mirror doc exists. Optimization fields the mirror has on an image
 * and the item lacks are kept by the smart merge, so they are allowed. Returns one line per difference.
 */
type Doc = Record<string, unknown>;

const STRINGS = ["prompt", "model", "generationType"];
const MEDIA = ["images", "videos"];
const TIMES = ["createdAt", "updatedAt"];
const MEDIA_KEYS = ["id", "url", "storagePath", "thumbnailUrl", "avifUrl"];
const ALLOWED = new Set([
  ...STRINGS,
  ...MEDIA,
  ...TIMES,
  "aestheticScore",
  "isPublic",
  "isDeleted",
  "uid",
  "historyId",
  "createdBy",
  "mirrorTaskId",
  "mirrorTaskCreatedAt",
  "mirroredAt",
]);

const isPublic = (item: Doc) => item.isPublic === true && (item.isDeleted === false || item.isDeleted === undefined);
const isMap = (v: unknown): v is Doc => typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Timestamp);

function expectedMedia(value: unknown): unknown {
  if (!Array.isArray(value)) return undefined;
  return value
    .filter(isMap)
    .map((item) => Object.fromEntries(MEDIA_KEYS.filter((k) => typeof item[k] === "string").map((k) => [k, item[k]])));
}

/** The fields the item's mirror doc must hold (images/videos compared apart). */
function expectedFields(uid: string, historyId: string, item: Doc, profile: Doc | undefined): Doc {
  const out: Doc = { isPublic: true, isDeleted: false, uid, historyId };
  const str = (v: unknown) => (typeof v === "string" ? v : null);
  out.createdBy = { uid, username: str(profile?.username), displayName: str(profile?.displayName), photoURL: str(profile?.photoURL) };
  for (const f of STRINGS) if (typeof item[f] === "string") out[f] = item[f];
  for (const f of TIMES) if (item[f] instanceof Timestamp) out[f] = item[f];
  if (typeof item.aestheticScore === "number" && Number.isFinite(item.aestheticScore)) out.aestheticScore = item.aestheticScore;
  return out;
}

/** The mirror's media list matches the item's: same items in order, each with the item's fields, plus optimization fields only. */
function mediaMatches(expected: unknown, actual: unknown): boolean {
  if (expected === undefined) return actual === undefined;
  if (!Array.isArray(expected) || !Array.isArray(actual) || expected.length !== actual.length) return false;
  return expected.every((want: Doc, i) => {
    const got = actual[i] as Doc;
    return (
      isMap(got) &&
      Object.entries(want).every(([k, v]) => got[k] === v) &&
      Object.keys(got).every((k) => k in want || k === "thumbnailUrl" || k === "avifUrl")
    );
  });
}

export async function mirrorMismatches(db: Firestore): Promise<string[]> {
  const [items, mirrors, users] = await Promise.all([
    db.collectionGroup("items").get(),
    db.collection("publicGenerations").get(),
    db.collection("users").get(),
  ]);
  const profiles = new Map(users.docs.map((d) => [d.id, d.data()]));
  const mirrorById = new Map(mirrors.docs.map((d) => [d.id, d.data()]));
  const problems: string[] = [];
  const expectedIds = new Set<string>();
  for (const doc of items.docs) {
    const [root, uid, coll, historyId, ...deeper] = doc.ref.path.split("/");
    if (root !== "generationHistory" || coll !== "items" || deeper.length) continue;
    const item = doc.data();
    if (!isPublic(item)) continue;
    expectedIds.add(historyId);
    const mirror = mirrorById.get(historyId);
    if (!mirror) {
      problems.push(`${uid}/${historyId}: public, not mirrored`);
      continue;
    }
    const want = expectedFields(uid, historyId, item, profiles.get(uid));
    for (const [k, v] of Object.entries(want))
      if (!isDeepStrictEqual(mirror[k], v))
        problems.push(`${uid}/${historyId}: ${k} is ${JSON.stringify(mirror[k])}, want ${JSON.stringify(v)}`);
    for (const k of MEDIA)
      if (!mediaMatches(expectedMedia(item[k]), mirror[k]))
        problems.push(`${uid}/${historyId}: ${k} is ${JSON.stringify(mirror[k])}, want ${JSON.stringify(expectedMedia(item[k]))}`);
    for (const k of Object.keys(mirror)) {
      if (!ALLOWED.has(k)) problems.push(`${uid}/${historyId}: field ${k} is not a mirror field`);
      else if (!(k in want) && !MEDIA.includes(k) && !k.startsWith("mirror"))
        problems.push(`${uid}/${historyId}: ${k} should be absent (the item's is missing or of another type)`);
    }
  }
  for (const id of mirrorById.keys()) if (!expectedIds.has(id)) problems.push(`publicGenerations/${id}: no public item of that id`);
  return problems;
}
