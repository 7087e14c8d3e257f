import type { Firestore, QuerySnapshot } from "firebase-admin/firestore";

/** How a query was built: each method called from `db.collection(...)` on, with its arguments. */
export type QueryChain = [method: string, ...args: unknown[]][];

/** Runs in place of a query's `get()`; `run` is the real get on the emulator. */
export type AroundGet = (chain: QueryChain, run: () => Promise<QuerySnapshot>) => Promise<QuerySnapshot>;

/**
 * A fault proxy in front of a real Firestore, for what the emulator cannot do on demand at the
 * right moment: fail one query among many, or hold the rest of a test until a query has been
 * answered. Every query built from the returned client hands its `get()` to `around`, with how it
 * was built; everything else (documents, transactions, writes) is the real client's.
 */
export function aroundQueryGets(db: Firestore, around: AroundGet): Firestore {
  const isQuery = (value: unknown): value is object =>
    typeof value === "object" && value !== null && ["get", "where", "orderBy"].every((m) => typeof Reflect.get(value, m) === "function");
  const wrap = <T extends object>(query: T, chain: QueryChain): T =>
    new Proxy(query, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        if (prop === "get") return () => around(chain, () => value.call(target));
        return (...args: unknown[]) => {
          const result: unknown = value.apply(target, args);
          return isQuery(result) ? wrap(result, [...chain, [String(prop), ...args]]) : result;
        };
      },
    });
  return new Proxy(db, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (prop === "collection") return (...args: unknown[]) => wrap(value.apply(target, args), [["collection", ...args]]);
      return value.bind(target);
    },
  });
}

/** Whether the query was built with `where(field, op, value)`. */
export function hasWhere(chain: QueryChain, field: string, op: string, value?: unknown): boolean {
  return chain.some(([m, f, o, v]) => m === "where" && f === field && o === op && (value === undefined || v === value));
}
