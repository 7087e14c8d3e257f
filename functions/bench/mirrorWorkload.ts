import type { Firestore } from "firebase-admin/firestore";
import { ts, writeAll } from "./setup";

/**
 * The mirror benchmark's workload: `count` upsert tasks of distinct public history items whose
 * items carry no `createdBy`, so each task reads the source and the owner's profile (the most
 * expensive op, and the one the targets are stated for). Tasks are written `pending`, as
 * the README asks the app to, with `createdAt` one millisecond apart in the past and auto-ids.
 */
export const USERS = 20;

export async function seedUpserts(db: Firestore, count: number): Promise<void> {
  const t0 = Date.now() - 3_600_000;
  const docs: [string, Record<string, unknown>][] = [];
  for (let u = 0; u < USERS; u++)
    docs.push([`users/u${u}`, { username: `user${u}`, displayName: `User ${u}`, photoURL: `https://cdn/u${u}.png` }]);
  for (let i = 0; i < count; i++) {
    const uid = `u${i % USERS}`;
    docs.push([
      `generationHistory/${uid}/items/h${i}`,
      {
        uid,
        prompt: `prompt ${i}`,
        model: "flux",
        images: [{ id: "0", url: `https://cdn/${i}.png` }],
        videos: [],
        isPublic: true,
        isDeleted: false,
        aestheticScore: i % 10,
        createdAt: ts(t0),
        updatedAt: ts(t0),
      },
    ]);
    // Auto-ids, as the app's add() makes them: the workers' cursors assume ids spread over that space.
    docs.push([
      `mirrorQueue/${db.collection("mirrorQueue").doc().id}`,
      { op: "upsert", uid, historyId: `h${i}`, status: "pending", createdAt: ts(t0 + i) },
    ]);
  }
  await writeAll(db, docs);
}

export async function doneCount(db: Firestore): Promise<number> {
  return (await db.collection("mirrorQueue").where("status", "==", "done").count().get()).data().count;
}

/** When each done task reached `done`: the update time Firestore gave its last write, in ms, sorted. */
export async function doneTimes(db: Firestore): Promise<number[]> {
  const page = await db.collection("mirrorQueue").where("status", "==", "done").select().get();
  return page.docs.map((d) => d.updateTime.toMillis()).sort((a, b) => a - b);
}

/**
 * Throughput: the tasks done from the moment every process of the path had made its first RPC
 * (loaded, its first poll or event started) to the last task's completion, over that span. Leaves
 * out process start-up, which on a loaded machine takes seconds and would count against a path of
 * several processes the time its last process spent loading while the first already worked; a
 * path that completes tasks in waves (the trigger's 80 at once) is measured over whole waves.
 */
export function throughput(times: number[], firstRpcAtByProcess: (number | undefined)[]): number {
  const starts = firstRpcAtByProcess.filter((t): t is number => t !== undefined && Number.isFinite(t));
  if (!times.length || !starts.length) return NaN;
  const from = Math.max(...starts);
  const counted = times.filter((t) => t >= from);
  if (!counted.length) return NaN;
  return counted.length / ((counted[counted.length - 1] - from) / 1000);
}
