/**
 * Which storage keys the media GC may send in a bulk delete, and which spellings of a key a store
 * may take for the same object.
 *
 * S3 compares keys as exact strings, but S3-compatible stores do not all do so:
 * - XML parsers change text: s3rver trims a `DeleteObjects` key and turns \r into \n; XML 1.0
 *   cannot carry most control characters, U+FFFE, U+FFFF or lone surrogates (a strict store
 *   refuses the whole request), and XML 1.1 parsers turn U+0085 and U+2028 into line ends;
 * - stores that keep objects as files resolve keys as paths: s3rver's `path.join` takes
 *   `a//b`, `/a/b`, `a/./b` and `x/../a/b` for `a/b`, and `../other-bucket/k` for an object of
 *   another bucket; a Windows host also takes `\` for `/`;
 * - stores on a file system that normalizes Unicode (macOS) take a key's NFC and NFD forms for one file.
 * A key in canonical form (below) means the same object to all of them. The GC sends only such
 * keys, and before deleting an object it looks for other media docs naming any spelling of it
 * (`sameKeySpellings`). Keys are otherwise case-sensitive, as in S3: a store that compares keys
 * without case cannot hold the app's own keys apart and is not supported.
 */

/** S3's longest object key, in UTF-8 bytes. */
export const S3_MAX_KEY_BYTES = 1024;

/** C0 and C1 controls, DEL, XML 1.1 line ends, and the two characters XML 1.0 excludes. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_OR_NOT_XML = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufffe\uffff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Why `key` is not a canonical storage key, or undefined when it is one. Canonical: a non-empty
 * string of at most 1,024 UTF-8 bytes, without whitespace at either end, without control
 * characters or characters XML 1.0 cannot carry, a `/`-separated path with no empty, `.` or `..`
 * segment (so no leading, trailing or doubled `/`) and no `\`, entirely in Unicode NFC or
 * entirely in NFD. The app writes `storageKey` in this form; the GC never deletes any other key.
 */
export function storageKeyProblem(key: unknown): string | undefined {
  if (typeof key !== "string" || key === "") return "not a non-empty string";
  if (Buffer.byteLength(key, "utf8") > S3_MAX_KEY_BYTES) return `longer than S3's ${S3_MAX_KEY_BYTES} bytes`;
  if (CONTROL_OR_NOT_XML.test(key) || LONE_SURROGATE.test(key)) return "holds a control character or one XML cannot carry";
  if (key.trim() !== key) return "has whitespace at either end";
  if (key.includes("\\")) return "holds a backslash (a path separator on Windows hosts)";
  if (key.split("/").some((s) => s === "" || s === "." || s === ".."))
    return "is a path with an empty, . or .. segment (a leading, trailing or doubled /)";
  if (key !== key.normalize("NFC") && key !== key.normalize("NFD")) return "mixes Unicode normal forms";
  return undefined;
}

export function isCanonicalStorageKey(key: unknown): key is string {
  return storageKeyProblem(key) === undefined;
}

/** The spellings of a canonical key that a store may take for the same object: itself, its NFC and NFD forms. */
export function sameKeySpellings(key: string): string[] {
  return [...new Set([key, key.normalize("NFC"), key.normalize("NFD")])];
}
