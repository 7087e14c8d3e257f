import { z } from "zod";

/**
 * Firestore's rules for a document id, checked before any request: an id it refuses fails at
 * the server only after a round trip (or a retry loop), with a gRPC error that names no field.
 * Source: https://firebase.google.com/docs/firestore/quotas#collections_documents_and_fields
 */
export const MAX_DOCUMENT_ID_BYTES = 1500;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why Firestore would refuse `id` as a document id, or undefined when it would accept it. */
export function documentIdProblem(id: string): string | undefined {
  if (id === "") return "must not be empty";
  if (LONE_SURROGATE.test(id)) return "must be valid Unicode (no lone surrogates)";
  if (Buffer.byteLength(id, "utf8") > MAX_DOCUMENT_ID_BYTES) return `must be at most ${MAX_DOCUMENT_ID_BYTES} bytes`;
  if (id.includes("/")) return 'must be a document id (no "/")';
  if (id === "." || id === "..") return 'must not be "." or ".."';
  if (/^__.*__$/s.test(id)) return "must not start and end with __ (reserved by Firestore)";
  return undefined;
}

/** A zod string that Firestore accepts as a document id; errors read "<name> must ...". */
export const documentId = (name: string) =>
  z.string({ error: `${name} must be a string` }).superRefine((id, ctx) => {
    const problem = documentIdProblem(id);
    if (problem) ctx.addIssue({ code: "custom", message: `${name} ${problem}` });
  });
