import { Timestamp } from "firebase-admin/firestore";
import { injectCommitFaults, unavailable } from "../harness/commitFaults";
import { memoryLogger, testDeps } from "../harness/deps";
import { enqueue, enqueueAtLimit, putHistoryItem, putUser, taskDoc } from "../harness/mirrorData";
import { POLLING_PATHS, useMirrorTestBed } from "../harness/mirrorPaths";

/**
 * The audit step (queueAudit.ts, deadLetterCheck.ts) runs at the start of a poll, before the
 * queries that find the poll's work. Whatever it meets, a task it cannot stamp or a Firestore
 * failure of its own, the poll goes on with the other tasks, and no task is left where no query finds it.
 */
const bed = useMirrorTestBed("auditstep");

async function goodTask(): Promise<string> {
  await putUser(bed.fs.db, "u1");
  await putHistoryItem(bed.fs.db, "u1", "h1");
  return enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1" });
}

describe.each(POLLING_PATHS)("through the %s", (path) => {
  it("a task without status, too large to be stamped `pending`, is set aside at once, and the poll processes the others", async () => {
    const big = await enqueueAtLimit(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h0", createdAt: Timestamp.now() });
    const good = await goodTask();
    await bed.paths.run(path, good, testDeps(bed.fs.db));

    expect(await taskDoc(bed.fs.db, good)).toMatchObject({ status: "done", outcome: "published" });
    const task = await taskDoc(bed.fs.db, big);
    expect(task).toMatchObject({ status: "failed", deadLetter: true, attempts: 1, op: "upsert", uid: "u1", historyId: "h0" });
    expect(task.lastError).toMatch(/^the task document is too large for the workers to record anything on it/);
  });

  it("an audit step that fails (Firestore unavailable for its cursor) is logged, and the poll still processes its tasks", async () => {
    const good = await goodTask();
    const logger = memoryLogger();
    const undo = injectCommitFaults(bed.fs.db, (paths) => (paths.some((p) => p.startsWith("workerState/")) ? unavailable() : undefined));
    try {
      await bed.paths.run(path, good, testDeps(bed.fs.db, { logger }));
    } finally {
      undo();
    }
    expect(await taskDoc(bed.fs.db, good)).toMatchObject({ status: "done", outcome: "published" });
    expect(logger.entries).toContainEqual(
      expect.objectContaining({ message: "mirror.audit_failed", error: expect.objectContaining({ code: 14 }) }),
    );
  });
});
