import { Timestamp } from "firebase-admin/firestore";
import { testDeps } from "../harness/deps";
import { enqueue, enqueueAtLimit, putHistoryItem, putUser, taskDoc } from "../harness/mirrorData";
import { MIRROR_PATHS, useMirrorTestBed } from "../harness/mirrorPaths";

/**
 * A task Firestore will not let the workers write to is set aside (lease.ts): its doc is replaced by
 * its identifying fields, the failure, and the size of each field removed. The names of those
 * fields are the app's: whatever they are, the set-aside write is one Firestore accepts.
 */
const bed = useMirrorTestBed("setaside");

describe.each(MIRROR_PATHS)("through the %s", (path) => {
  it("a task too large to take a claim, with long field names whose first 100 characters look reserved or split a character, still ends a dead letter", async () => {
    // Valid as written (it does not end with "__"); cut to 100 characters it would be "__…__", which Firestore reserves.
    const name = `__${"a".repeat(96)}__tail`;
    // An emoji (two UTF-16 units) across the cut: half of it would be no valid UTF-8.
    const emoji = `${"b".repeat(98)}😀tail`;
    const big = await enqueueAtLimit(bed.fs.db, {
      op: "upsert",
      uid: "u1",
      historyId: "h0",
      status: "pending",
      createdAt: Timestamp.now(),
      [name]: 1,
      [emoji]: 1,
    });
    await putUser(bed.fs.db, "u1");
    await putHistoryItem(bed.fs.db, "u1", "h1");
    const good = await enqueue(bed.fs.db, { op: "upsert", uid: "u1", historyId: "h1" });
    await bed.paths.run(path, big, testDeps(bed.fs.db));
    if (path === "trigger") await bed.paths.run(path, good, testDeps(bed.fs.db));

    const task = await taskDoc(bed.fs.db, big);
    expect(task).toMatchObject({ status: "failed", deadLetter: true, attempts: 1, uid: "u1", historyId: "h0" });
    expect(task.lastError).toMatch(/^the task document is too large for the workers to record anything on it/);
    expect(Object.keys(task.removedFields).sort()).toEqual([`${name.slice(0, 99)}…`, `${"b".repeat(98)}…`, "padding", "status"].sort());
    expect(await taskDoc(bed.fs.db, good)).toMatchObject({ status: "done" });
  });
});
