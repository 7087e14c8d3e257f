import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Timestamp } from "firebase-admin/firestore";
import { createS3Client } from "../src/core/storage/s3Client";
import { createTestFirestore, type TestFirestore } from "./harness/firestore";
import { startS3Server, type TestS3Server } from "../dev/s3Server";

describe("the Firestore emulator", () => {
  let fs: TestFirestore;
  beforeAll(() => {
    fs = createTestFirestore("smoke");
  });
  afterAll(() => fs.close());

  it("stores and reads back a document through the admin SDK", async () => {
    const createdAt = Timestamp.fromMillis(1_700_000_000_000);
    await fs.db.doc("users/alice").set({ username: "alice", createdAt });
    const snap = await fs.db.doc("users/alice").get();
    expect(snap.exists).toBe(true);
    expect(snap.get("username")).toBe("alice");
    expect((snap.get("createdAt") as Timestamp).toMillis()).toBe(1_700_000_000_000);
  });

  it("runs a transaction that sees a concurrent write and retries", async () => {
    const ref = fs.db.doc("counters/c");
    await ref.set({ n: 0 });
    await Promise.all(
      Array.from({ length: 5 }, () =>
        fs.db.runTransaction(async (tx) => {
          const n = (await tx.get(ref)).get("n") as number;
          tx.update(ref, { n: n + 1 });
        }),
      ),
    );
    expect((await ref.get()).get("n")).toBe(5);
  });

  it("isolates test files by project id", async () => {
    const other = createTestFirestore("smoke-other");
    try {
      expect(other.projectId).not.toBe(fs.projectId);
      await fs.db.doc("isolation/x").set({ v: 1 });
      expect((await other.db.doc("isolation/x").get()).exists).toBe(false);
    } finally {
      await other.close();
    }
  });
});

describe("the local S3-compatible server", () => {
  let s3: TestS3Server;
  let client: S3Client;
  beforeAll(async () => {
    s3 = await startS3Server();
    client = createS3Client(s3.config, { maxAttempts: 1 });
  });
  afterAll(async () => {
    client.destroy();
    await s3.dispose();
  });

  it("puts, reads and deletes an object through @aws-sdk/client-s3", async () => {
    const Key = "canvas/u1/m1.png";
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body: "pixels", ContentType: "image/png" }));
    const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key }));
    expect(await got.Body!.transformToString()).toBe("pixels");
    await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key }));
    await expect(client.send(new GetObjectCommand({ Bucket: s3.bucket, Key }))).rejects.toMatchObject({ name: "NoSuchKey" });
  });

  it("fails when the server is down", async () => {
    await s3.stop();
    try {
      await expect(client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: "x" }))).rejects.toThrow();
    } finally {
      await s3.start();
    }
  });
});
