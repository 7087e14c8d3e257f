import { FieldValue, type DocumentReference, type Transaction } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";

/**
 * The owner tombstone of a gallery id. A mirror doc's id is the history item's id, which the
 * owner's client chooses and every gallery link shows. When the mirror doc is removed, the workers
 * record in `publicGenerationOwners/{historyId}` whose it was (`{uid, removedAt}`), in the same
 * transaction; firestore.rules refuse a history item whose id a live mirror doc or a tombstone
 * gives to another user, so nobody can take over a link its owner unpublished. Costs one write per
 * removal, nothing on the publishing path. Tombstones are kept (a few dozen bytes each).
 */
export function ownerTombstoneRef(mirrorRef: DocumentReference): DocumentReference {
  return mirrorRef.firestore.collection(COLLECTIONS.publicGenerationOwners).doc(mirrorRef.id);
}

export function writeOwnerTombstone(tx: Transaction, mirrorRef: DocumentReference, uid: string): void {
  tx.set(ownerTombstoneRef(mirrorRef), { uid, removedAt: FieldValue.serverTimestamp() });
}
