import type { Firestore } from "firebase-admin/firestore";

/**
 * A fault proxy in front of the real, emulator-backed client, for the one behaviour the emulator
 * cannot show on demand: a write that fails for a transient reason (a dropped connection, an
 * unavailable backend), or one that arrives late. While a fault is set for a Firestore instance,
 * each commit of that instance (a single write, a batch, a transaction's commit) is offered to
 * `fault` with the paths it writes; when `fault` returns an error, the commit fails with it before
 * reaching the emulator; when it returns a promise, the commit waits for it.
 * Reads and every other instance are untouched.
 */
/* eslint-disable-next-line @typescript-eslint/no-require-imports */
const { WriteBatch } = require("@google-cloud/firestore/build/src/write-batch");

/** An error to fail the commit with, or undefined to let it through; a promise holds the commit until it settles. */
type Fault = (paths: string[]) => Error | undefined | Promise<Error | undefined | void>;
const faults = new WeakMap<object, Fault>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  const commit = WriteBatch.prototype._commit;
  WriteBatch.prototype._commit = async function (this: { _firestore: object; _ops: { docPath: string }[] }, ...args: unknown[]) {
    const error = await faults.get(this._firestore)?.(this._ops.map((op) => op.docPath));
    if (error) throw error;
    return commit.apply(this, args);
  };
}

/** Sets the fault of `db`'s commits until the returned function is called. */
export function injectCommitFaults(db: Firestore, fault: Fault): () => void {
  install();
  faults.set(db, fault);
  return () => faults.delete(db);
}

/** An error as the client reports an unavailable backend (gRPC code 14). */
export function unavailable(message = "injected: the connection to Firestore dropped"): Error {
  return Object.assign(new Error(`14 UNAVAILABLE: ${message}`), { code: 14 });
}
