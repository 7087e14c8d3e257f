import { DeleteObjectsCommand, type S3Client } from "@aws-sdk/client-s3";
import { errorMessage } from "../errors";

/** The one storage operation the GC needs, so it can be counted in benchmarks. */
export interface MediaStore {
  /** Deletes up to 1,000 keys in one request. A key that does not exist counts as deleted. */
  deleteObjects(keys: string[]): Promise<{ deleted: string[]; errors: { key: string; message: string }[] }>;
}

export const S3_DELETE_LIMIT = 1000;

export class S3MediaStore implements MediaStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async deleteObjects(keys: string[]) {
    if (keys.length === 0) return { deleted: [], errors: [] };
    if (keys.length > S3_DELETE_LIMIT) throw new Error(`deleteObjects takes at most ${S3_DELETE_LIMIT} keys, got ${keys.length}`);
    const out = await this.client.send(
      new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: false } }),
    );
    const errors = (out.Errors ?? [])
      // Some providers report a missing key as an error rather than as deleted; it is gone either way.
      .filter((e) => e.Code !== "NoSuchKey")
      .map((e) => ({ key: e.Key ?? "", message: `${e.Code ?? "Error"}: ${e.Message ?? "delete failed"}` }));
    const failed = new Set(errors.map((e) => e.key));
    return { deleted: keys.filter((k) => !failed.has(k)), errors };
  }
}

export function describeStorageError(error: unknown): string {
  const name = (error as { name?: string })?.name;
  return name && name !== "Error" ? `${name}: ${errorMessage(error)}` : errorMessage(error);
}
