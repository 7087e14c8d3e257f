import { createHash } from "node:crypto";
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { StorageConfig } from "../../src/core/config";
import type { TestS3Server } from "../../dev/s3Server";

/**
 * A STORAGE FAULT PROXY: a small, strict HTTP proxy in front of a real S3-compatible server
 * (s3rver), for provider behaviours s3rver does not have. It is not a mock: every request that it
 * lets through is answered by s3rver (on a fresh connection each: a kept-alive one that s3rver closed
 * would show up as a reset the proxy did not mean). Faults, each a behaviour of real providers:
 * - `require-content-md5`: refuses DeleteObjects (POST ?delete) without a Content-MD5 header,
 *   with 400 InvalidRequest "Missing required header for this request: Content-MD5" (what AWS
 *   itself answered before its 2025 checksums, and S3-compatible stores such as Dell EMC ECS
 *   still answer AWS SDKs that send CRC32 headers), and one that does not match the body with
 *   400 BadDigest; passes everything else through;
 * - `hang`: accepts the connection, reads the request, and never answers;
 * - `unconfirm`: passes DeleteObjects through, then leaves `keys` out of the answer's Deleted
 *   list (as a store that answers with keys in another form does);
 * - `normalize-unicode`: takes the keys of a DeleteObjects body in Unicode NFC before s3rver
 *   sees them, and answers with the keys as sent (a store on a file system that normalizes
 *   names, as macOS's does, holds one file for the NFC and NFD spellings of a key);
 * - `refuse-request-with`: answers 400 MalformedXML, deleting nothing, to any DeleteObjects whose
 *   body holds `marker` (a store whose XML parser cannot take a character of one key refuses the
 *   whole request); passes everything else through;
 * - `fail-request-with`: a DeleteObjects whose body holds `marker` gets `how`: "500" (500
 *   InternalError, deleting nothing: a store that fails on one key) or "hang" (never answered: a
 *   store that stalls on one key); every other request, the probe among them, is passed through;
 * - `refuse-every-request`: answers every DeleteObjects with `status` and S3 error `code`, deleting nothing;
 * - `refuse-every-key`: answers 200 with an Error of `code` (and `message`) for every key asked,
 *   deleting nothing (a bucket policy that denies deletes); with `under`, only requests carrying a
 *   key under that prefix (a policy on the app's folder), every other request is passed through;
 * - `name-no-key`: passes DeleteObjects through, then answers 200 with an empty DeleteResult (a
 *   store that answers with every key in another form, or a broken gateway);
 * - `name-in-both-lists`: passes DeleteObjects through, then adds an InternalError for every key
 *   the answer names Deleted (a store contradicting itself);
 * - `act-then-fail`: passes the first DeleteObjects through (s3rver deletes) and answers it 500
 *   InternalError with `Connection: close` (a store that did the work and failed to say so);
 *   every later DeleteObjects gets `later`: "refuse-connections" (the proxy stops listening: a
 *   store that crashed), "429" (429 SlowDown: throttling), or "404-html" (404 text/html: a load
 *   balancer during failover), none passed through;
 * - `key-error`: passes DeleteObjects through, then reports each of `keys` the answer names
 *   Deleted as an Error with `code` instead (a store that deleted and failed to acknowledge it);
 * - `drip`: passes DeleteObjects through, sends the answer's headers at once and its body one
 *   byte every `everyMs` (a store, or a link, that never goes silent long enough to time out idle).
 */
export type StorageFault =
  | { kind: "require-content-md5" }
  | { kind: "hang" }
  | { kind: "unconfirm"; keys: string[] }
  | { kind: "normalize-unicode" }
  | { kind: "refuse-request-with"; marker: string }
  | { kind: "fail-request-with"; marker: string; how: "500" | "hang" }
  | { kind: "refuse-every-request"; status: number; code: string }
  | { kind: "refuse-every-key"; code: string; message?: string; under?: string }
  | { kind: "name-no-key" }
  | { kind: "name-in-both-lists" }
  | { kind: "act-then-fail"; later: "refuse-connections" | "429" | "404-html" }
  | { kind: "key-error"; keys: string[]; code: string }
  | { kind: "drip"; everyMs: number };

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface StorageFaultProxy {
  endpoint: string;
  /** The target's settings, with the proxy as endpoint. */
  config: StorageConfig;
  /** Every request the proxy received, in order. */
  seen: SeenRequest[];
  close(): Promise<void>;
}

const isDeleteObjects = (req: IncomingMessage) => req.method === "POST" && /[?&]delete(=|&|$)/.test(req.url ?? "");

function s3Error(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
  res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function xmlAnswer(res: ServerResponse, xml: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
  res.writeHead(200, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

const unescapeXml = (s: string) =>
  s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");

const escapeXml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The keys of a DeleteObjects body or answer, as XML text (escaped). */
const keysIn = (xml: string) => [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);

function withoutDeleted(xml: string, keys: string[]): string {
  return xml.replace(/<Deleted>\s*<Key>([^<]*)<\/Key>\s*<\/Deleted>/g, (whole, key: string) =>
    keys.includes(unescapeXml(key)) ? "" : whole,
  );
}

export async function startStorageFaultProxy(target: TestS3Server, fault: StorageFault): Promise<StorageFaultProxy> {
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();

  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse, rewrite?: (xml: string) => string, headers = req.headers) => {
    const upstream = httpRequest(
      { host: "127.0.0.1", port: target.port, method: req.method, path: req.url, agent: false, headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on("data", (c: Buffer) => chunks.push(c));
        answer.on("end", () => {
          const text = Buffer.concat(chunks);
          const out = rewrite && answer.statusCode === 200 ? Buffer.from(rewrite(text.toString("utf8"))) : text;
          const answerHeaders = { ...answer.headers, "content-length": String(out.length) };
          delete answerHeaders["transfer-encoding"];
          res.writeHead(answer.statusCode ?? 502, answerHeaders);
          res.end(out);
        });
      },
    );
    upstream.on("error", () => res.destroy());
    upstream.end(body);
  };

  let deletesSeen = 0;
  const timers = new Set<NodeJS.Timeout>();
  const actThenFail = (later: "refuse-connections" | "429" | "404-html", req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    if (deletesSeen++ > 0) {
      if (later === "429") return s3Error(res, 429, "SlowDown", "Please reduce your request rate.");
      res.writeHead(404, { "content-type": "text/html", "content-length": "9" });
      return res.end("Not Found");
    }
    const upstream = httpRequest(
      { host: "127.0.0.1", port: target.port, method: req.method, path: req.url, agent: false, headers: req.headers },
      (answer) => {
        answer.resume();
        answer.on("end", () => {
          const text = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`;
          if (later === "refuse-connections") {
            server.close();
            res.on("finish", () => setImmediate(() => sockets.forEach((socket) => socket.destroy())));
          }
          res.writeHead(500, { "content-type": "application/xml", "content-length": Buffer.byteLength(text), connection: "close" });
          res.end(text);
        });
      },
    );
    upstream.on("error", () => res.destroy());
    upstream.end(body);
  };
  const drip = (everyMs: number, req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const upstream = httpRequest(
      { host: "127.0.0.1", port: target.port, method: req.method, path: req.url, agent: false, headers: req.headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on("data", (c: Buffer) => chunks.push(c));
        answer.on("end", () => {
          const out = Buffer.concat(chunks);
          res.writeHead(answer.statusCode ?? 502, { "content-type": "application/xml", "content-length": String(out.length) });
          let i = 0;
          const timer = setInterval(() => {
            if (res.destroyed || i >= out.length) {
              clearInterval(timer);
              timers.delete(timer);
              return void (i >= out.length && res.end());
            }
            res.write(out.subarray(i, ++i));
          }, everyMs);
          timers.add(timer);
        });
      },
    );
    upstream.on("error", () => res.destroy());
    upstream.end(body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
      const body = Buffer.concat(chunks);
      if (fault.kind === "hang") return;
      if (!isDeleteObjects(req)) return forward(req, body, res);
      if (fault.kind === "unconfirm") return forward(req, body, res, (xml) => withoutDeleted(xml, fault.keys));
      if (fault.kind === "normalize-unicode") {
        const sent = new Map(keysIn(body.toString("utf8")).map((k) => [k.normalize("NFC"), k]));
        const normalized = Buffer.from(
          body.toString("utf8").replace(/<Key>([^<]*)<\/Key>/g, (_m, k: string) => `<Key>${k.normalize("NFC")}</Key>`),
        );
        const headers = {
          ...req.headers,
          "content-md5": createHash("md5").update(normalized).digest("base64"),
          "content-length": String(normalized.length),
        };
        return forward(
          req,
          normalized,
          res,
          (xml) => xml.replace(/<Key>([^<]*)<\/Key>/g, (_m, k: string) => `<Key>${sent.get(k) ?? k}</Key>`),
          headers,
        );
      }
      if (fault.kind === "refuse-request-with") {
        if (body.toString("utf8").includes(escapeXml(fault.marker)))
          return s3Error(
            res,
            400,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
          );
        return forward(req, body, res);
      }
      if (fault.kind === "fail-request-with") {
        if (!body.toString("utf8").includes(escapeXml(fault.marker))) return forward(req, body, res);
        if (fault.how === "hang") return;
        return s3Error(res, 500, "InternalError", "We encountered an internal error. Please try again.");
      }
      if (fault.kind === "refuse-every-request") return s3Error(res, fault.status, fault.code, "refused by the storage fault proxy");
      if (fault.kind === "refuse-every-key") {
        const keys = keysIn(body.toString("utf8"));
        if (fault.under !== undefined && !keys.some((k) => unescapeXml(k).startsWith(fault.under!))) return forward(req, body, res);
        const errors = keys.map(
          (k) =>
            `<Error><Key>${k}</Key><Code>${fault.code}</Code><Message>${escapeXml(fault.message ?? "refused by the storage fault proxy")}</Message></Error>`,
        );
        return xmlAnswer(res, `<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${errors.join("")}</DeleteResult>`);
      }
      if (fault.kind === "name-in-both-lists") {
        return forward(req, body, res, (xml) =>
          xml.replace(
            "</DeleteResult>",
            `${keysIn(xml)
              .map((k) => `<Error><Key>${k}</Key><Code>InternalError</Code><Message>and yet</Message></Error>`)
              .join("")}</DeleteResult>`,
          ),
        );
      }
      if (fault.kind === "act-then-fail") return actThenFail(fault.later, req, body, res);
      if (fault.kind === "drip") return drip(fault.everyMs, req, body, res);
      if (fault.kind === "key-error") {
        const asError = (key: string) =>
          `<Error><Key>${key}</Key><Code>${fault.code}</Code><Message>We encountered an internal error. Please try again.</Message></Error>`;
        return forward(req, body, res, (xml) =>
          xml.replace(/<Deleted>\s*<Key>([^<]*)<\/Key>\s*<\/Deleted>/g, (whole, key: string) =>
            fault.keys.includes(unescapeXml(key)) ? asError(key) : whole,
          ),
        );
      }
      if (fault.kind === "name-no-key")
        return forward(
          req,
          body,
          res,
          () => `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>`,
        );
      const md5 = req.headers["content-md5"];
      if (typeof md5 !== "string") return s3Error(res, 400, "InvalidRequest", "Missing required header for this request: Content-MD5");
      if (md5 !== createHash("md5").update(body).digest("base64"))
        return s3Error(res, 400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
      forward(req, body, res);
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    config: { ...target.config, ZATA_ENDPOINT: endpoint },
    seen,
    close: async () => {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
