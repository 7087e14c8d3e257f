import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Timestamp, type Firestore } from "firebase-admin/firestore";

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
  if (withObject) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: storageKey, Body: Buffer.alloc(size, 1), ContentType: "image/png" }));
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
