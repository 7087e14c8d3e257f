/**
 * The one error model of the workers.
 *
 * - `PermanentError`: a failure no retry can fix (invalid input, a document Firestore refuses to
 *   store). Queue workers set such an item aside at once (dead letter, failing record) and never
 *   retry it; `field` names what was wrong when one field is to blame. Check with `instanceof`.
 * - `ConfigError`: a setting is missing or invalid. Nothing runs; entry points answer
 *   `failed-precondition` (callable) or exit 2 (processes) with the message, which names the setting.
 * - Everything else is transient until proven otherwise: retried with backoff, within bounds.
 * - Entry points answer their caller by `failureKind` (below), one mapping for the callable and the CLI.
 *
 * Firestore reports failures as gRPC status codes (numbers from the Admin SDK, strings from
 * some wrappers); `firestoreCode` reads either, and the predicates below name the cases the
 * workers act on. Source: https://grpc.github.io/grpc/core/md_doc_statuscodes.html
 */
export const GrpcStatus = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcName = keyof typeof GrpcStatus;

const byName = new Map<string, number>(Object.entries(GrpcStatus).map(([name, code]) => [name.toLowerCase().replace(/_/g, "-"), code]));

/** The gRPC status code of a Firestore error (number), or undefined for anything else. */
export function firestoreCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  if (typeof code === "number") return code;
  if (typeof code === "string") return byName.get(code.toLowerCase().replace(/_/g, "-"));
  return undefined;
}

function hasCode(error: unknown, ...names: GrpcName[]): boolean {
  const code = firestoreCode(error);
  return code !== undefined && names.some((n) => GrpcStatus[n] === code);
}

/**
 * A conditional write lost: a failed precondition (`lastUpdateTime`), a create over an existing
 * doc, an update of a missing one. Someone else changed the document first; re-read, don't retry blindly.
 */
export function isConflict(error: unknown): boolean {
  return hasCode(error, "FAILED_PRECONDITION", "ALREADY_EXISTS", "NOT_FOUND");
}

/** Firestore refused the request itself (a reserved or too long id, a doc over 1 MiB, too deep a map): retrying cannot help. */
export function isRejectedByFirestore(error: unknown): boolean {
  return hasCode(error, "INVALID_ARGUMENT", "OUT_OF_RANGE");
}

export class PermanentError extends Error {
  override name = "PermanentError";
  constructor(
    message: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * How an entry point answers a failure of a whole run:
 * - `config`: a setting or the environment is wrong (ConfigError): callable `failed-precondition`, process exit 2;
 * - `invalid`: the request itself cannot succeed (PermanentError, or Firestore refused it, e.g. a
 *   reserved id): callable `invalid-argument`, process exit 2;
 * - `internal`: anything else: callable `internal` with a correlation id that is also in the log
 *   line holding the stack, process exit 1.
 */
export type FailureKind = "config" | "invalid" | "internal";

export function failureKind(error: unknown): FailureKind {
  if (error instanceof ConfigError) return "config";
  if (error instanceof PermanentError || isRejectedByFirestore(error)) return "invalid";
  return "internal";
}

/** The message alone, for reports and `lastError`; logs take the error itself (see the logger). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An error as a log field: name, message, stack and, recursively, its cause. */
export function serializeError(error: unknown, depth = 0): unknown {
  if (!(error instanceof Error)) return error;
  const out: Record<string, unknown> = { name: error.name, message: error.message, stack: error.stack };
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  if (error.cause !== undefined && depth < 5) out.cause = serializeError(error.cause, depth + 1);
  return out;
}
