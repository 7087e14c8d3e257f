import { request } from "node:http";
import { z } from "zod";
import { ConfigError, errorMessage } from "../core/errors";

/**
 * Where a standalone process (a worker, the CLI, `npm run local`) finds Firestore: the standard
 * environment variables, checked before any client is built, and a probe that tells the emulator
 * from any other HTTP server before the first worker starts.
 */

/** host:port as the Firestore clients take it: a name, an IPv4 address or a bracketed IPv6 one, and a port 1-65535. */
const HOST_PORT = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})$/;
/**
 * A Google Cloud project id: lowercase letters, digits and hyphens, starting with a letter, not ending
 * with a hyphen, at most 30 characters (https://cloud.google.com/resource-manager/docs/creating-managing-projects),
 * optionally after a legacy domain prefix (`example.com:`).
 */
const PROJECT_ID = /^(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z](?:[a-z0-9-]{0,28}[a-z0-9])?$/;

function isHostPort(value: string): boolean {
  const port = HOST_PORT.exec(value)?.[1];
  return port !== undefined && Number(port) >= 1 && Number(port) <= 65535;
}

const hostPort = z
  .string()
  .refine(isHostPort, { error: "FIRESTORE_EMULATOR_HOST must be host:port, e.g. 127.0.0.1:8080 (no http://, no path)" });
const projectId = (name: string) =>
  z.string().regex(PROJECT_ID, {
    error: `${name} must be a project id: lowercase letters, digits and hyphens, starting with a letter, at most 30 characters`,
  });

const firestoreEnvSchema = z.object({
  FIRESTORE_EMULATOR_HOST: hostPort.optional(),
  GCLOUD_PROJECT: projectId("GCLOUD_PROJECT").optional(),
  GOOGLE_CLOUD_PROJECT: projectId("GOOGLE_CLOUD_PROJECT").optional(),
});

export interface FirestoreEnv {
  /** host:port of the emulator, when one is named. */
  emulatorHost?: string;
  /** The project named by the environment; against the emulator with none named, the demo project. */
  projectId?: string;
}

/** The demo project of .firebaserc: never a real one. */
export const DEMO_PROJECT = "demo-workers";

/**
 * Reads FIRESTORE_EMULATOR_HOST, GCLOUD_PROJECT and GOOGLE_CLOUD_PROJECT (an empty value is unset).
 * Throws ConfigError naming every malformed one: the clients would otherwise fail later with a stack
 * ("not a valid host", "illegal characters", `2 UNKNOWN`).
 */
export function readFirestoreEnv(env: NodeJS.ProcessEnv): FirestoreEnv {
  const set = (v: string | undefined) => (v === "" ? undefined : v);
  const result = firestoreEnvSchema.safeParse({
    FIRESTORE_EMULATOR_HOST: set(env.FIRESTORE_EMULATOR_HOST),
    GCLOUD_PROJECT: set(env.GCLOUD_PROJECT),
    GOOGLE_CLOUD_PROJECT: set(env.GOOGLE_CLOUD_PROJECT),
  });
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => issue.message).join("; "));
  const { FIRESTORE_EMULATOR_HOST: emulatorHost, GCLOUD_PROJECT, GOOGLE_CLOUD_PROJECT } = result.data;
  return { emulatorHost, projectId: GCLOUD_PROJECT ?? GOOGLE_CLOUD_PROJECT ?? (emulatorHost ? DEMO_PROJECT : undefined) };
}

/** How long the emulator has to answer the probe. */
export const EMULATOR_PROBE_MS = 5000;

const EMULATOR_HINT =
  "start it (`firebase emulators:start --only firestore`, or `npm run local` in functions/), or unset FIRESTORE_EMULATOR_HOST to use a real project";
const NOT_FIRESTORE_HINT =
  "set FIRESTORE_EMULATOR_HOST to the Firestore emulator's host:port (not the functions emulator's, the S3 server's or the emulator UI's), or unset it to use a real project";

/** The emulator's answer to a document read: the document, or a Google API error. */
const firestoreAnswer = z.union([
  z.object({ name: z.string() }),
  z.object({ error: z.object({ code: z.number(), status: z.string(), message: z.string().optional() }) }),
]);

/** The longest answer the probe reads: a document that does not exist, or an error, is far smaller. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Reads one document through the emulator's REST API (the port it serves gRPC on) as an admin
 * (`Bearer owner`, so rules do not apply). Only a Firestore emulator answers with a document or a
 * Google API error; anything else (a refused connection, no answer within EMULATOR_PROBE_MS, another
 * server) throws a ConfigError saying which and what to set.
 */
export async function probeEmulator(emulatorHost: string, projectId: string): Promise<void> {
  const where = `FIRESTORE_EMULATOR_HOST=${emulatorHost}`;
  const url = `http://${emulatorHost}/v1/projects/${projectId}/databases/(default)/documents/workerState/startupProbe`;
  let answer: HttpAnswer;
  try {
    answer = await httpGet(url, { Authorization: "Bearer owner" }, EMULATOR_PROBE_MS);
  } catch (error) {
    if (error instanceof ProbeTimeout) {
      throw new ConfigError(`the Firestore emulator at ${where} did not answer within ${EMULATOR_PROBE_MS / 1000} s: ${EMULATOR_HINT}`);
    }
    const code = (error as { code?: unknown }).code;
    throw new ConfigError(
      `cannot connect to the Firestore emulator at ${where} (${typeof code === "string" ? code : errorMessage(error)}): ${EMULATOR_HINT}`,
    );
  }
  const parsed = firestoreAnswer.safeParse(parseJson(answer.body));
  if (!parsed.success) {
    throw new ConfigError(
      `${where} answers HTTP ${answer.status} (${answer.contentType}), not as a Firestore emulator does: ${NOT_FIRESTORE_HINT}`,
    );
  }
  if ("error" in parsed.data && parsed.data.error.status !== "NOT_FOUND") {
    const { code, status, message } = parsed.data.error;
    throw new ConfigError(
      `the Firestore emulator at ${where} refused a read in project ${projectId}: ${code} ${status}${message ? ` ${message}` : ""}`,
    );
  }
}

interface HttpAnswer {
  status: number;
  contentType: string;
  /** At most MAX_ANSWER_BYTES of it. */
  body: string;
}

class ProbeTimeout extends Error {}

/**
 * One GET with node:http, whose whole exchange (connect, answer, body) must end within `ms`. Not
 * fetch: it refuses ports on the WHATWG "bad ports" list, where an emulator may still listen.
 */
function httpGet(url: string, headers: Record<string, string>, ms: number): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        if (size < MAX_ANSWER_BYTES) chunks.push(chunk);
        size += chunk.length;
      });
      res.on("end", () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString("utf8");
        resolve({ status: res.statusCode ?? 0, contentType: (res.headers["content-type"] ?? "no content type").split(";")[0], body });
      });
      res.on("error", reject);
    });
    const timer = setTimeout(() => req.destroy(new ProbeTimeout()), ms);
    req.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end();
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
