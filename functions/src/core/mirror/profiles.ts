import type { Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { valueSize } from "./docSize";
import { PROFILE_FIELDS, type Doc } from "./publicFields";

/**
 * Owners' profiles (users/{uid}), the only source of a mirror doc's `createdBy`. They are read
 * outside any transaction (a user's own writes to their profile never wait on a worker's lock)
 * and shared: the tasks of a batch with the same owner use one read, and a standalone worker keeps
 * a profile for `ttlMs` of its own clock, so a profile edit reaches the items published from then
 * on within that time (an item published earlier keeps the `createdBy` it was published with until
 * its next upsert, with or without this cache). Reads of the same profile at once share one request.
 *
 * A profile is the user's own document (firestore.rules let them write anything into it, up to
 * 1 MiB), so a long-running worker keeps only PROFILE_FIELDS of each, of type string, and at most
 * `maxProfiles` of them in `maxBytes`: past either, and once older than `ttlMs` (or read "later"
 * than now, by a clock that stepped back), the profiles read longest ago are dropped.
 */
export const PROFILE_TTL_MS = 30_000;

/** How much a cache holds: `maxBytes` counts the strings kept in UTF-8 bytes, as Firestore does. */
export interface ProfileCacheBounds {
  maxProfiles: number;
  maxBytes: number;
}

/** A profile takes a few hundred bytes in practice: the byte bound matters only against profiles padded on purpose. */
export const PROFILE_CACHE_BOUNDS: ProfileCacheBounds = { maxProfiles: 10_000, maxBytes: 8 * 1024 * 1024 };

/** What `createdBy` takes from a profile: its PROFILE_FIELDS that are strings. */
export type Profile = Partial<Record<(typeof PROFILE_FIELDS)[number], string>>;

interface Entry {
  readAtMs: number;
  data: Promise<Profile | undefined>;
  /** Counted once the read resolved. */
  bytes: number;
}

function profileOf(data: Doc | undefined): Profile | undefined {
  if (!data) return undefined;
  return Object.fromEntries(PROFILE_FIELDS.filter((f) => typeof data[f] === "string").map((f) => [f, data[f]]));
}

export class ProfileCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  /** `ttlMs` 0: each call reads the profiles it needs once (the tasks of one batch share them, nothing more). */
  constructor(
    private readonly ttlMs = PROFILE_TTL_MS,
    private readonly bounds: ProfileCacheBounds = PROFILE_CACHE_BOUNDS,
  ) {}

  /** The profiles of `uids` (undefined: no profile), read at most `ttlMs` before `nowMs`. */
  async get(db: Firestore, uids: string[], nowMs: number): Promise<Map<string, Profile | undefined>> {
    const wanted = [...new Set(uids)];
    const stale = wanted.filter((uid) => !this.fresh(this.entries.get(uid), nowMs));
    if (stale.length) this.read(db, stale, nowMs);
    const pending = wanted.map((uid) => this.entries.get(uid)!.data);
    const found = await Promise.all(pending);
    this.evict(nowMs);
    return new Map(wanted.map((uid, i) => [uid, found[i]]));
  }

  private fresh(entry: Entry | undefined, nowMs: number): boolean {
    return entry !== undefined && entry.readAtMs <= nowMs && nowMs - entry.readAtMs < this.ttlMs;
  }

  private read(db: Firestore, uids: string[], nowMs: number): void {
    const read = db.getAll(...uids.map((uid) => db.collection(COLLECTIONS.users).doc(uid)));
    for (const uid of uids) {
      const entry: Entry = { readAtMs: nowMs, bytes: 0, data: read.then((snaps) => profileOf(snaps.find((s) => s.id === uid)?.data())) };
      entry.data.then(
        (profile) => {
          if (this.entries.get(uid) !== entry) return;
          entry.bytes = profile ? valueSize(profile) : 0;
          this.bytes += entry.bytes;
        },
        // A failed read is not kept: the next call reads again.
        () => this.drop(uid, entry),
      );
      this.drop(uid, this.entries.get(uid)); // re-inserted last: the map's order is the order of reading
      this.entries.set(uid, entry);
    }
  }

  private drop(uid: string, entry: Entry | undefined): void {
    if (!entry || this.entries.get(uid) !== entry) return;
    this.entries.delete(uid);
    this.bytes -= entry.bytes;
  }

  /** Drops, oldest read first, what is past the bounds or no longer fresh. */
  private evict(nowMs: number): void {
    for (const [uid, entry] of this.entries) {
      const over = this.entries.size > this.bounds.maxProfiles || this.bytes > this.bounds.maxBytes;
      if (!over && this.fresh(entry, nowMs)) break;
      this.drop(uid, entry);
    }
  }
}
