import { Timestamp } from "firebase-admin/firestore";
import { GC_MARK_LEASE_MS, GC_MARK_MAX_CLOCK_SKEW_MS, GC_MAX_KEY_FAILURES, judgeMedia } from "../../src/core/mediaGC/eligibility";
import { isCanonicalStorageKey, sameKeySpellings, storageKeyProblem } from "../../src/core/mediaGC/storageKeys";

/** The pure rules: which storage keys the GC may send, and which docs are garbage. */
const NOW = Date.UTC(2026, 0, 31);
const old = { referencedByCount: 0, createdAt: Timestamp.fromMillis(NOW - 40 * 86_400_000), storageKey: "canvas/u/a.png" };

it.each([
  ["canvas/u/a.png", true],
  ["canvas/ü/é 1.png", true],
  ["canvas/u/cafe\u0301.png", true],
  ["u/\u{1F600}.png", true],
  ["u/a&b<c>\"'.png", true],
  ["u/%2e%2e/x.png", true],
  ["u/.hidden/x..png", true],
  ["a".repeat(1024), true],
  ["é".repeat(512), true],
  ["a".repeat(1025), false],
  ["é".repeat(513), false],
  [" a.png", false],
  ["a.png ", false],
  ["\ufeffa.png", false],
  ["a.png\u00a0", false],
  ["a.png\n", false],
  ["a\rb.png", false],
  ["a\tb.png", false],
  ["a\u0000b", false],
  ["a\u007fb", false],
  ["a\u0085b", false],
  ["a\u009bb", false],
  ["a\u2028b", false],
  ["u/bad\uffff.png", false],
  ["u/bad\ufffe.png", false],
  ["u/lone\ud800.png", false],
  ["u/lone\udc00.png", false],
  // Paths a file-backed store resolves to another key (s3rver: path.join).
  ["/users/v/victim.png", false],
  ["users//v/victim.png", false],
  ["users/./v/victim.png", false],
  ["users/v/./victim.png", false],
  ["users/x/../v/victim.png", false],
  ["../other-bucket/secret.png", false],
  ["users/v/", false],
  [".", false],
  ["..", false],
  ["users\\v\\victim.png", false],
  // One part composed, another decomposed: neither NFC nor NFD.
  ["caf\u00e9/cafe\u0301.png", false],
  ["", false],
  [42, false],
])("isCanonicalStorageKey(%j) is %s", (key, safe) => {
  expect(isCanonicalStorageKey(key)).toBe(safe);
  expect(storageKeyProblem(key) === undefined).toBe(safe);
});

it("names each spelling a store may take for a canonical key: itself, NFC and NFD", () => {
  expect(sameKeySpellings("canvas/u/a.png")).toEqual(["canvas/u/a.png"]);
  expect(sameKeySpellings("u/caf\u00e9.png").sort()).toEqual(["u/caf\u00e9.png", "u/cafe\u0301.png"].sort());
  expect(sameKeySpellings("u/cafe\u0301.png").sort()).toEqual(["u/caf\u00e9.png", "u/cafe\u0301.png"].sort());
});

it.each([
  ["an old unreferenced doc", {}, { eligible: true }],
  ["a referenced doc", { referencedByCount: 1 }, { eligible: false, reason: "referenced" }],
  ["a doc whose referencedByCount is not a number", { referencedByCount: "0" }, { eligible: false, reason: "referenced" }],
  ["a young doc", { createdAt: Timestamp.fromMillis(NOW - 86_400_000) }, { eligible: false, reason: "young" }],
  ["a doc without createdAt", { createdAt: "2020-01-01" }, { eligible: false, reason: "no-createdAt" }],
  ["a doc without storageKey", { storageKey: null }, { eligible: false, reason: "no-storageKey" }],
  ["a doc whose key a store may change", { storageKey: " a.png " }, { eligible: false, reason: "unsafe-storageKey" }],
  [
    "a doc marked by a live run",
    { gcState: "deleting", gcMarkedAt: Timestamp.fromMillis(NOW - 1000) },
    { eligible: false, reason: "being-deleted" },
  ],
  ["a doc whose mark expired", { gcState: "deleting", gcMarkedAt: Timestamp.fromMillis(NOW - GC_MARK_LEASE_MS - 1) }, { eligible: true }],
  ["a doc released after an unknown outcome (deleting, no lease)", { gcState: "deleting" }, { eligible: true }],
  [
    "a doc marked a little ahead of this clock (another machine's)",
    { gcState: "deleting", gcMarkedAt: Timestamp.fromMillis(NOW + GC_MARK_MAX_CLOCK_SKEW_MS) },
    { eligible: false, reason: "being-deleted" },
  ],
  [
    "a doc whose mark is dated in the future (not a run's)",
    { gcState: "deleting", gcMarkedAt: Timestamp.fromMillis(NOW + GC_MARK_MAX_CLOCK_SKEW_MS + 1) },
    { eligible: true },
  ],
  ["a doc whose mark is not a Timestamp", { gcState: "deleting", gcMarkedAt: "yesterday" }, { eligible: true }],
  ["a doc whose key a store may resolve to another", { storageKey: "u/x/../v.png" }, { eligible: false, reason: "unsafe-storageKey" }],
  ["a doc whose key failed too often", { gcFailures: GC_MAX_KEY_FAILURES }, { eligible: false, reason: "set-aside" }],
  ["a doc whose key failed less often", { gcFailures: GC_MAX_KEY_FAILURES - 1 }, { eligible: true }],
])("judgeMedia: %s", (_label, over, verdict) => {
  expect(judgeMedia({ ...old, ...over }, NOW, 30)).toEqual(verdict);
});
