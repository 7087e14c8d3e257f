import type { Firestore, Transaction, WriteBatch } from "firebase-admin/firestore";

/**
 * A fault proxy in front of a real Firestore: the first commit (batch or transaction) that writes
 * a snapshot part runs `after` once, before the writer goes on. It puts an event (a deletion)
 * exactly between two of a snapshot's parts writes, on the real emulator.
 */
export function afterFirstPartsWrite(db: Firestore, after: () => Promise<void>): Firestore {
  let fired = false;
  const isPart = (ref: { path: string }) => /\/snapshots\/[^/]+\/parts\//.test(ref.path);
  const fire = async (wrotePart: boolean) => {
    if (!wrotePart || fired) return;
    fired = true;
    await after();
  };
  /** Calls `onPart` when a `set`/`create` on `target` (a batch or a transaction) writes a part; `overrides` replace other methods. */
  const spyOnWrites = <W extends object>(target: W, onPart: () => void, overrides: Record<string, unknown> = {}): W => {
    const self: W = new Proxy(target, {
      get(t, prop) {
        if (typeof prop === "string" && prop in overrides) return overrides[prop];
        const value: unknown = Reflect.get(t, prop, t);
        if (typeof value !== "function") return value;
        if (prop !== "set" && prop !== "create") return value.bind(t);
        return (ref: { path: string }, ...rest: unknown[]) => {
          if (isPart(ref)) onPart();
          value.call(t, ref, ...rest);
          return self;
        };
      },
    });
    return self;
  };
  const batch = (): WriteBatch => {
    const real = db.batch();
    let wrotePart = false;
    const commit = async () => {
      const result = await real.commit();
      await fire(wrotePart);
      return result;
    };
    return spyOnWrites(real, () => (wrotePart = true), { commit });
  };
  const runTransaction = async <T>(
    fn: (tx: Transaction) => Promise<T>,
    options?: Parameters<Firestore["runTransaction"]>[1],
  ): Promise<T> => {
    let wrotePart = false;
    const result = await db.runTransaction((tx) => {
      wrotePart = false; // a retried attempt starts over
      return fn(spyOnWrites(tx, () => (wrotePart = true)));
    }, options);
    await fire(wrotePart);
    return result;
  };
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "batch") return batch;
      if (prop === "runTransaction") return runTransaction;
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
