import type { Firestore } from "firebase-admin/firestore";

/**
 * A fault proxy in front of a real Firestore: every count aggregation fails as Firestore answers
 * one it cannot finish within its deadline (DEADLINE_EXCEEDED, gRPC code 4), which a count over
 * millions of index entries does in production and the emulator cannot be made to do. Everything
 * else (queries, reads, writes) is the real emulator's.
 */
export function failingCounts(db: Firestore): Firestore {
  const refused = () =>
    Promise.reject(
      Object.assign(new Error("4 DEADLINE_EXCEEDED: the count did not finish in time (failingCounts fault proxy)"), { code: 4 }),
    );
  const countable = (value: unknown): value is object =>
    typeof value === "object" && value !== null && typeof (value as { count?: unknown }).count === "function";
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, prop) {
        const value: unknown = Reflect.get(t, prop, t);
        if (typeof value !== "function") return value;
        if (prop === "count") return () => ({ get: refused });
        // Queries built from a wrapped one (where, orderBy, limit, startAfter...) are wrapped too.
        return (...args: unknown[]) => {
          const result: unknown = value.apply(t, args);
          return countable(result) ? wrap(result) : result;
        };
      },
    });
  return wrap(db);
}
