import type { Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import type { Doc } from "./publicFields";

/**
 * Owners' profiles (users/{uid}), the only source of a mirror doc's `createdBy`. They are read
 * outside any transaction (a user's own writes to their profile never wait on a worker's lock)
 * and shared: the tasks of a batch with the same owner use one read, and a standalone worker keeps
 * a profile for `ttlMs`, so a profile edit reaches the items published from then on within that
 * time (an item published earlier keeps the `createdBy` it was published with until its next
 * upsert, with or without this cache). Reads of the same profile at once share one request.
 */
export const PROFILE_TTL_MS = 30_000;
/** Bounds the memory of a long-running worker: the profiles read longest ago are dropped first. */
const MAX_PROFILES = 10_000;

interface Entry {
  readAtMs: number;
  data: Promise<Doc | undefined>;
}

export class ProfileCache {
  private readonly entries = new Map<string, Entry>();

  /** `ttlMs` 0: each call reads the profiles it needs once (the tasks of one batch share them, nothing more). */
  constructor(private readonly ttlMs = PROFILE_TTL_MS) {}

  /** The profiles of `uids` (undefined: no profile), read at most `ttlMs` before `nowMs`. */
  async get(db: Firestore, uids: string[], nowMs: number): Promise<Map<string, Doc | undefined>> {
    const wanted = [...new Set(uids)];
    const stale = wanted.filter((uid) => {
      const entry = this.entries.get(uid);
      return !entry || nowMs - entry.readAtMs >= this.ttlMs;
    });
    if (stale.length) this.read(db, stale, nowMs);
    const pending = wanted.map((uid) => this.entries.get(uid)!.data);
    this.evict();
    const found = await Promise.all(pending);
    return new Map(wanted.map((uid, i) => [uid, found[i]]));
  }

  private read(db: Firestore, uids: string[], nowMs: number): void {
    const read = db.getAll(...uids.map((uid) => db.collection(COLLECTIONS.users).doc(uid)));
    for (const uid of uids) {
      const entry: Entry = { readAtMs: nowMs, data: read.then((snaps) => snaps.find((s) => s.id === uid)?.data()) };
      // A failed read is not kept: the next call reads again.
      entry.data.catch(() => this.entries.get(uid) === entry && this.entries.delete(uid));
      this.entries.delete(uid); // re-inserted last: the map's order is the order of reading
      this.entries.set(uid, entry);
    }
  }

  private evict(): void {
    if (this.ttlMs === 0) return this.entries.clear();
    for (const uid of this.entries.keys()) {
      if (this.entries.size <= MAX_PROFILES) break;
      this.entries.delete(uid);
    }
  }
}
