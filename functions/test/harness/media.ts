import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Timestamp, type Firestore } from "firebase-admin/firestore";
import type { StorageConfig } from "../../src/core/config";
import { S3MediaStore } from "../../src/core/storage/mediaStore";
import { createS3Client } from "../../src/core/storage/s3Client";
import { startS3Server, type TestS3Server } from "../../dev/s3Server";
import { createTestFirestore, type TestFirestore } from "./firestore";
import { startStorageFaultProxy, type StorageFault, type StorageFaultProxy } from "./storageFaultProxy";

export const DAY = 86_400_000;

/** A canvasMedia doc and its object, as the app would leave them. */
export async function putMedia(
  db: Firestore,
  s3: S3Client,
  bucket: string,
  id: string,
  {
    ageDays,
    refs = 0,
    size = 1000,
    withObject = true,
    storageKey = `canvas/owner/${id}.png`,
  }: { ageDays: number; refs?: number; size?: number; withObject?: boolean; storageKey?: string },
): Promise<string> {
  if (withObject)
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: storageKey, Body: Buffer.alloc(size, 1), ContentType: "image/png" }));
  await db.doc(`canvasMedia/${id}`).set({
    ownerUid: "owner",
    storageKey,
    referencedByCount: refs,
    createdAt: Timestamp.fromMillis(Date.now() - ageDays * DAY),
    size,
    contentType: "image/png",
  });
  return storageKey;
}

export async function objectExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as { name?: string }).name === "NoSuchKey") return false;
    throw error;
  }
}

export async function mediaExists(db: Firestore, id: string): Promise<boolean> {
  return (await db.doc(`canvasMedia/${id}`).get()).exists;
}

/**
 * The real parts of a storage test file, set up and torn down with its jest hooks: a Firestore
 * emulator project (cleared before each test), an s3rver with one bucket, and the fault proxies
 * and S3 clients the tests make (closed after each test). Read `fs`, `server` and `s3` inside tests.
 */
export function storageTestBed(label: string) {
  const parts = {} as { fs: TestFirestore; server: TestS3Server; s3: S3Client };
  const proxies: StorageFaultProxy[] = [];
  const clients: S3Client[] = [];
  beforeAll(async () => {
    parts.fs = createTestFirestore(label);
    parts.server = await startS3Server("media");
    parts.s3 = createS3Client(parts.server.config);
  });
  beforeEach(() => parts.fs.clear());
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    for (const p of proxies.splice(0)) await p.close();
  });
  afterAll(async () => {
    parts.s3.destroy();
    await parts.server.dispose();
    await parts.fs.close();
  });
  return Object.assign(parts, {
    /** A store with its own client for `config` (closed after the test). */
    storeFor(config: StorageConfig, attempts?: number): S3MediaStore {
      const client = createS3Client(config, { maxAttempts: 1 });
      clients.push(client);
      return new S3MediaStore(client, config.ZATA_BUCKET, { attempts, attemptTimeoutMs: config.ZATA_REQUEST_TIMEOUT_MS });
    },
    async proxy(fault: StorageFault): Promise<StorageFaultProxy> {
      const p = await startStorageFaultProxy(parts.server, fault);
      proxies.push(p);
      return p;
    },
    put: (id: string, opts: Parameters<typeof putMedia>[4]) => putMedia(parts.fs.db, parts.s3, parts.server.bucket, id, opts),
    media: async (id: string) => (await parts.fs.db.doc(`canvasMedia/${id}`).get()).data(),
  });
}
