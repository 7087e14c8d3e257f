import { Timestamp } from "firebase-admin/firestore";
import { GC_MARK_LEASE_MS, GC_MAX_KEY_FAILURES, isSafeStorageKey, judgeMedia } from "../../src/core/mediaGC/eligibility";

/** The pure rules: which storage keys the GC may send, and which docs are garbage. */
const NOW = Date.UTC(2026, 0, 31);
const old = { referencedByCount: 0, createdAt: Timestamp.fromMillis(NOW - 40 * 86_400_000), storageKey: "canvas/u/a.png" };

it.each([
  ["canvas/u/a.png", true],
  ["canvas/ü/é 1.png", true],
  ["a".repeat(1024), true],
  ["é".repeat(512), true],
  ["a".repeat(1025), false],
  ["é".repeat(513), false],
  [" a.png", false],
  ["a.png ", false],
  ["a.png\n", false],
  ["a\rb.png", false],
  ["a\tb.png", false],
  ["a\u0000b", false],
  ["a\u007fb", false],
  ["", false],
  [42, false],
])("isSafeStorageKey(%j) is %s", (key, safe) => {
  expect(isSafeStorageKey(key)).toBe(safe);
});

it.each([
  ["an old unreferenced doc", {}, { eligible: true }],
  ["a referenced doc", { referencedByCount: 1 }, { eligible: false, reason: "referenced" }],
  ["a doc whose referencedByCount is not a number", { referencedByCount: "0" }, { eligible: false, reason: "referenced" }],
  ["a young doc", { createdAt: Timestamp.fromMillis(NOW - 86_400_000) }, { eligible: false, reason: "young" }],
  ["a doc without createdAt", { createdAt: "2020-01-01" }, { eligible: false, reason: "no-createdAt" }],
  ["a doc without storageKey", { storageKey: null }, { eligible: false, reason: "no-storageKey" }],
  ["a doc whose key a store may change", { storageKey: " a.png " }, { eligible: false, reason: "unsafe-storageKey" }],
  ["a doc marked by a live run", { gcState: "deleting", gcMarkedAt: Timestamp.fromMillis(NOW - 1000) }, { eligible: false, reason: "being-deleted" }],
  ["a doc whose mark expired", { gcState: "deleting", gcMarkedAt: Timestamp.fromMillis(NOW - GC_MARK_LEASE_MS - 1) }, { eligible: true }],
  ["a doc released after an unknown outcome (deleting, no lease)", { gcState: "deleting" }, { eligible: true }],
  ["a doc whose key failed too often", { gcFailures: GC_MAX_KEY_FAILURES }, { eligible: false, reason: "set-aside" }],
  ["a doc whose key failed less often", { gcFailures: GC_MAX_KEY_FAILURES - 1 }, { eligible: true }],
])("judgeMedia: %s", (_label, over, verdict) => {
  expect(judgeMedia({ ...old, ...over }, NOW, 30)).toEqual(verdict);
});
