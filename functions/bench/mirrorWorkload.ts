import type { Firestore } from "firebase-admin/firestore";
import { ts, writeAll } from "./setup";

/**
 * The mirror benchmark's workload: `count` upsert tasks of distinct public history items whose
 * items carry no `createdBy`, so each task reads the source and the owner's profile (the most
 * expensive op, and the one the targets are stated for). Tasks are written `pending`, as
 * the README asks the app to, with `createdAt` one millisecond apart in the past.
 */
export const USERS = 20;

export async function seedUpserts(db: Firestore, count: number): Promise<void> {
  const t0 = Date.now() - 3_600_000;
  const docs: [string, Record<string, unknown>][] = [];
  for (let u = 0; u < USERS; u++) docs.push([`users/u${u}`, { username: `user${u}`, displayName: `User ${u}`, photoURL: `https://cdn/u${u}.png` }]);
  for (let i = 0; i < count; i++) {
    const uid = `u${i % USERS}`;
    docs.push([
      `generationHistory/${uid}/items/h${i}`,
      { uid, prompt: `prompt ${i}`, model: "flux", images: [{ id: "0", url: `https://cdn/${i}.png` }], videos: [], isPublic: true, isDeleted: false, aestheticScore: i % 10, createdAt: ts(t0), updatedAt: ts(t0) },
    ]);
    docs.push([`mirrorQueue/t${String(i).padStart(6, "0")}`, { op: "upsert", uid, historyId: `h${i}`, status: "pending", createdAt: ts(t0 + i) }]);
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
 * Steady-state throughput from completion times: the tasks completed between the 10th and the
 * 90th percentile of completion, over that span. Leaves out process start-up (workers that start
 * a little apart) and the drain's tail (the last, partly filled batches).
 */
export function steadyRate(times: number[]): { tasks: number; seconds: number; tasksPerSecond: number } {
  if (times.length < 10) return { tasks: times.length, seconds: NaN, tasksPerSecond: NaN };
  const lo = Math.floor(times.length * 0.1);
  const hi = Math.ceil(times.length * 0.9) - 1;
  const seconds = (times[hi] - times[lo]) / 1000;
  return { tasks: times.length, seconds, tasksPerSecond: (hi - lo) / seconds };
}
