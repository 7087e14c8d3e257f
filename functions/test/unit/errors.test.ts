import { ConfigError, PermanentError, firestoreCode, isConflict, isRejectedByFirestore, serializeError } from "../../src/core/errors";
import { createLogger } from "../../src/core/logger";

describe("firestoreCode", () => {
  it("reads numeric gRPC codes and the string names some wrappers use", () => {
    expect(firestoreCode({ code: 9 })).toBe(9);
    expect(firestoreCode({ code: "failed-precondition" })).toBe(9);
    expect(firestoreCode({ code: "ALREADY_EXISTS" })).toBe(6);
    expect(firestoreCode({ code: "ENOTFOUND" })).toBeUndefined();
    expect(firestoreCode(new Error("no code"))).toBeUndefined();
    expect(firestoreCode(undefined)).toBeUndefined();
  });

  it("names conflicts and requests Firestore refuses, and nothing else", () => {
    expect([5, 6, 9].map((code) => isConflict({ code }))).toEqual([true, true, true]);
    expect([4, 10, 13, 14].map((code) => isConflict({ code }))).toEqual([false, false, false, false]);
    expect(isRejectedByFirestore({ code: 3 })).toBe(true);
    expect(isRejectedByFirestore({ code: 14 })).toBe(false);
  });
});

describe("serializeError", () => {
  it("keeps name, message, stack, code and the chain of causes", () => {
    const root = Object.assign(new Error("deadline"), { code: 4 });
    const error = new PermanentError("task too big", "snapshot", { cause: root });
    const out = serializeError(error) as Record<string, unknown>;
    expect(out).toMatchObject({ name: "PermanentError", message: "task too big" });
    expect(String(out.stack)).toContain("errors.test.ts");
    expect(out.cause).toMatchObject({ name: "Error", message: "deadline", code: 4 });
    expect(error.field).toBe("snapshot");
  });

  it("is what the logger writes for an error field", () => {
    const lines: string[] = [];
    createLogger({ sink: (e) => lines.push(JSON.stringify(e)) }).error("boom", { error: new ConfigError("ZATA_BUCKET is required") });
    const entry = JSON.parse(lines[0]);
    expect(entry.error).toMatchObject({ name: "ConfigError", message: "ZATA_BUCKET is required" });
    expect(entry.error.stack).toContain("ConfigError: ZATA_BUCKET is required");
  });
});
