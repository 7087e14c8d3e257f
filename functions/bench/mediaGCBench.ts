import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Firestore } from "firebase-admin/firestore";
import { runMediaGC } from "../src/core/mediaGC/runMediaGC";
import { S3MediaStore } from "../src/core/storage/mediaStore";
import { counted } from "./opCounter";
import { benchDeps, freshDb, log, round, ts, writeAll } from "./setup";

/**
 * Section 2: 10,000 media of which 1,000 are garbage; cost per item, and the cost of a run with
 * nothing to do. Not more: the emulator answers each equality query (the GC asks one per key, for
 * the other docs that name it) by scanning the collection's index entries, so its time per item
 * grows with the collection, which production's indexes do not; at 50,000 media one run took over
 * 10 minutes of both cores. The per-item operation counts do not depend on the size.
 */
const TOTAL = 10_000;
const GARBAGE = 1_000;
const DAY = 86_400_000;

async function seedGarbage(db: Firestore, s3: S3Client, bucket: string, prefix: string, count: number): Promise<void> {
  const now = Date.now();
  const docs: [string, Record<string, unknown>][] = [];
  for (let i = 0; i < count; i++)
    docs.push([
      `canvasMedia/${prefix}${i}`,
      { ownerUid: "o", storageKey: `bench/${prefix}${i}.png`, referencedByCount: 0, createdAt: ts(now - 40 * DAY), size: 4096 },
    ]);
  await writeAll(db, docs);
  const body = Buffer.alloc(4096, 1);
  for (let i = 0; i < count; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, (_, j) =>
        s3.send(new PutObjectCommand({ Bucket: bucket, Key: `bench/${prefix}${i + j}.png`, Body: body })),
      ),
    );
  }
}

export async function mediaGCBench(s3: S3Client, bucket: string, s3Requests: () => number) {
  const { db } = freshDb("gc");
  const now = Date.now();
  const docs: [string, Record<string, unknown>][] = [];
  // The 9,000 that are not garbage: young and unreferenced, or old and referenced.
  for (let i = 0; i < TOTAL - GARBAGE; i++) {
    const young = i % 3 !== 0;
    docs.push([
      `canvasMedia/keep${i}`,
      {
        ownerUid: "o",
        storageKey: `bench/keep${i}.png`,
        referencedByCount: young ? 0 : 1 + (i % 4),
        createdAt: ts(now - (young ? 5 : 90) * DAY),
        size: 4096,
      },
    ]);
  }
  log(`gc: seeding ${TOTAL} media docs and ${GARBAGE} objects`);
  await writeAll(db, docs);
  await seedGarbage(db, s3, bucket, "g", GARBAGE);

  const runs = [];
  for (const batchSize of [100, 1000]) {
    if (batchSize !== 100) await seedGarbage(db, s3, bucket, `g${batchSize}-`, GARBAGE);
    const store = new S3MediaStore(s3, bucket);
    const s3Before = s3Requests();
    const { result, ops, ms } = await counted(() => runMediaGC({ ...benchDeps(db), store }, { batchSize, timeBudgetMs: 3_600_000 }));
    const s3Used = s3Requests() - s3Before;
    const run = {
      batchSize,
      deleted: result.deleted,
      failed: result.failedCount,
      seconds: round(ms / 1000, 2),
      itemsPerSecond: round(result.deleted / (ms / 1000)),
      s3RequestsPerItem: round(s3Used / result.deleted, 4),
      readsPerItem: round(ops.reads / result.deleted, 2),
      writesPerItem: round(ops.writes / result.deleted, 2),
      deletesPerItem: round(ops.deletes / result.deleted, 2),
    };
    log(
      `gc batch ${batchSize}: ${run.itemsPerSecond} items/s, ${run.s3RequestsPerItem} S3 requests, ${run.readsPerItem} reads, ${run.writesPerItem} writes, ${run.deletesPerItem} deletes per item`,
    );
    runs.push(run);
  }
  const idle = await counted(() => runMediaGC({ ...benchDeps(db), store: new S3MediaStore(s3, bucket) }));
  log(`gc with nothing eligible: ${idle.ops.reads} reads among ${TOTAL - GARBAGE} media`);
  return {
    total: TOTAL,
    garbage: GARBAGE,
    runs,
    idle: { media: TOTAL - GARBAGE, reads: idle.ops.reads, writes: idle.ops.writes + idle.ops.deletes, ms: round(idle.ms) },
  };
}
