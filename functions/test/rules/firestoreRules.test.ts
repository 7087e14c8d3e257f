import { readFileSync } from "node:fs";
import { join } from "node:path";
import { assertFails, assertSucceeds, initializeTestEnvironment, type RulesTestEnvironment } from "@firebase/rules-unit-testing";
import firebase from "firebase/compat/app";
import "firebase/compat/firestore";
import { setLogLevel } from "firebase/firestore";
import { emulatorHost, uniqueProjectId } from "../harness/firestore";

// Every denied write is expected here; the client SDK would warn about each one.
setLogLevel("error");

/** firestore.rules on the emulator, through the client SDK: every allowed case succeeds, every denied one fails. */
let env: RulesTestEnvironment;

beforeAll(async () => {
  const [host, port] = emulatorHost().split(":");
  env = await initializeTestEnvironment({
    projectId: uniqueProjectId("rules"),
    firestore: { host, port: Number(port), rules: readFileSync(join(__dirname, "../../../firestore.rules"), "utf8") },
  });
});
beforeEach(async () => {
  await env.clearFirestore();
  await env.withSecurityRulesDisabled(async (ctx) => {
    const db = ctx.firestore();
    await db.doc("publicGenerations/g1").set({ uid: "alice", prompt: "p" });
    await db.doc("signupImageCache/current").set({ images: [], count: 0 });
    await db.doc("mirrorQueue/t1").set({ op: "upsert", uid: "alice", historyId: "h1" });
    await db.doc("mirrorState/h1").set({ taskId: "t1" });
    await db.doc("workerState/mirrorQueueScan").set({ taskId: "t1" });
    await db.doc("users/alice").set({ username: "alice" });
    await db.doc("generationHistory/alice/items/h1").set({ uid: "alice", prompt: "p", isPublic: true });
    await db
      .doc("canvasProjects/p1")
      .set({ ownerUid: "alice", opIndex: 0, opsSinceSnapshot: 1, lastSnapshotOpIndex: -1, updatedAt: new Date() });
    await db.doc("canvasSnapshotFailures/p1").set({ error: "x", attempts: 1 });
    await db.doc("canvasProjects/p1/elements/e1").set({ x: 1 });
    await db.doc("canvasProjects/p1/ops/0").set({ index: 0, type: "create", elementId: "e1", data: { x: 1 }, createdAt: new Date() });
    await db.doc("canvasProjects/p1/snapshots/s1").set({ opIndex: 0 });
    await db.doc("canvasProjects/p1/snapshots/s1/parts/0").set({ index: 0, elements: {} });
    await db.doc("canvasMedia/m1").set({ ownerUid: "alice", storageKey: "k", referencedByCount: 0 });
  });
});
afterAll(() => env.cleanup());

const anon = () => env.unauthenticatedContext().firestore();
const alice = () => env.authenticatedContext("alice").firestore();
const bob = () => env.authenticatedContext("bob").firestore();
// The contexts' Firestore is the compat API: its own sentinels.
const serverTimestamp = () => firebase.firestore.FieldValue.serverTimestamp();

describe("public collections: anyone reads, no client writes", () => {
  it.each(["publicGenerations/g1", "signupImageCache/current"])("%s", async (path) => {
    await assertSucceeds(anon().doc(path).get());
    await assertSucceeds(alice().doc(path).get());
    await assertFails(alice().doc(path).set({ forged: true }));
    await assertFails(anon().doc(path).set({ forged: true }));
    await assertFails(alice().doc(path).delete());
    await assertFails(
      alice()
        .doc(path.replace(/\/[^/]+$/, "/new"))
        .set({ uid: "alice" }),
    );
  });
});

describe("worker-private collections: no client access at all", () => {
  it.each(["mirrorQueue/t1", "mirrorState/h1", "workerState/mirrorQueueScan", "canvasSnapshotFailures/p1"])("%s", async (path) => {
    await assertFails(alice().doc(path).get());
    await assertFails(anon().doc(path).get());
    await assertFails(alice().doc(path).set({ status: "done" }));
    await assertFails(alice().collection(path.split("/")[0]).add({ op: "upsert", uid: "alice", historyId: "h2" }));
  });
});

describe("users/{uid}", () => {
  it("is readable by signed-in users and writable only by its owner", async () => {
    await assertSucceeds(bob().doc("users/alice").get());
    await assertFails(anon().doc("users/alice").get());
    await assertSucceeds(alice().doc("users/alice").set({ username: "alice2" }));
    await assertFails(bob().doc("users/alice").set({ username: "hacked" }));
    await assertFails(anon().doc("users/alice").set({ username: "hacked" }));
  });
});

describe("generationHistory/{uid}/items", () => {
  it("belongs to its owner only", async () => {
    await assertSucceeds(alice().doc("generationHistory/alice/items/h1").get());
    await assertSucceeds(alice().doc("generationHistory/alice/items/h2").set({ uid: "alice", prompt: "new" }));
    await assertSucceeds(alice().doc("generationHistory/alice/items/h1").delete());
    await assertFails(bob().doc("generationHistory/alice/items/h1").get());
    await assertFails(bob().doc("generationHistory/alice/items/h3").set({ uid: "alice" }));
    await assertFails(anon().doc("generationHistory/alice/items/h1").get());
  });
  it("refuses an item that claims another user's uid", async () => {
    await assertFails(alice().doc("generationHistory/alice/items/h4").set({ uid: "bob", prompt: "forged" }));
  });
  it("refuses an item whose gallery id a live mirror doc or an owner tombstone gives to another user", async () => {
    await env.withSecurityRulesDisabled(async (ctx) => {
      await ctx.firestore().doc("publicGenerationOwners/unpublished1").set({ uid: "alice", removedAt: new Date() });
      await ctx.firestore().doc("publicGenerations/legacy1").set({ prompt: "no uid", isPublic: true });
    });
    // g1 is alice's live mirror doc; unpublished1 was alice's until she unpublished it; legacy1 has no owner.
    for (const id of ["g1", "unpublished1", "legacy1"]) {
      await assertFails(bob().doc(`generationHistory/bob/items/${id}`).set({ uid: "bob", prompt: "squat", isPublic: true }));
    }
    await assertSucceeds(alice().doc("generationHistory/alice/items/g1").set({ uid: "alice", prompt: "mine" }));
    await assertSucceeds(
      alice().doc("generationHistory/alice/items/unpublished1").set({ uid: "alice", prompt: "mine again", isPublic: true }),
    );
    await assertSucceeds(bob().doc("generationHistory/bob/items/fresh1").set({ uid: "bob", prompt: "free id" }));
    await assertFails(bob().doc("publicGenerationOwners/unpublished1").get());
    await assertFails(bob().doc("publicGenerationOwners/fresh1").set({ uid: "bob" }));
  });
  it("lets a batch create 10 items, not 11 (each costs the rules 2 document reads, 20 at most per batch)", async () => {
    const batchOf = (n: number, prefix: string) => {
      const db = bob();
      const batch = db.batch();
      for (let i = 0; i < n; i++) batch.set(db.doc(`generationHistory/bob/items/${prefix}${i}`), { uid: "bob", prompt: "p" });
      return batch.commit();
    };
    await assertSucceeds(batchOf(10, "ten"));
    await assertFails(batchOf(11, "eleven"));
  });
});

describe("canvasProjects", () => {
  it("belong to their owner; another user or anonymous gets nothing", async () => {
    await assertSucceeds(alice().doc("canvasProjects/p1").get());
    await assertFails(bob().doc("canvasProjects/p1").get());
    await assertFails(anon().doc("canvasProjects/p1").get());
    await assertSucceeds(alice().doc("canvasProjects/p2").set({ ownerUid: "alice", opIndex: -1, opsSinceSnapshot: 0 }));
    await assertFails(bob().doc("canvasProjects/p3").set({ ownerUid: "alice" }));
    await assertFails(bob().doc("canvasProjects/p1").update({ opIndex: 5 }));
  });
  it("let the owner update their project but never the worker's fields or the owner (the counters: test/rules/canvasOps)", async () => {
    await assertSucceeds(alice().doc("canvasProjects/p1").update({ title: "mine" }));
    for (const field of ["lastSnapshotOpIndex", "latestSnapshotId", "lastSnapshotAt", "snapshotCheckAfter"]) {
      await assertFails(
        alice()
          .doc("canvasProjects/p1")
          .update({ [field]: field === "lastSnapshotOpIndex" ? 99 : "forged" }),
      );
      await assertFails(
        alice()
          .doc(`canvasProjects/new-${field}`)
          .set({ ownerUid: "alice", [field]: "forged" }),
      );
    }
    await assertFails(alice().doc("canvasProjects/p1").update({ ownerUid: "bob" }));
  });
  it("snapshots: the owner reads them and their parts; no client writes them", async () => {
    await assertSucceeds(alice().doc("canvasProjects/p1/snapshots/s1").get());
    await assertSucceeds(alice().doc("canvasProjects/p1/snapshots/s1/parts/0").get());
    await assertFails(bob().doc("canvasProjects/p1/snapshots/s1").get());
    await assertFails(alice().doc("canvasProjects/p1/snapshots/s2").set({ opIndex: 5 }));
    await assertFails(alice().doc("canvasProjects/p1/snapshots/s1").delete());
    await assertFails(alice().doc("canvasProjects/p1/snapshots/s1/parts/1").set({ index: 1 }));
  });
});

describe("deleting a canvas project", () => {
  const deleteWithTombstone = (as: firebase.firestore.Firestore, uid: string) => {
    const b = as.batch();
    b.delete(as.doc("canvasProjects/p1"));
    b.set(as.doc("deletedCanvasProjects/p1"), { ownerUid: uid, deletedAt: serverTimestamp() });
    return b.commit();
  };

  it("needs the project's tombstone in the same batch, written by its owner", async () => {
    await assertFails(alice().doc("canvasProjects/p1").delete());
    await assertFails(deleteWithTombstone(bob(), "bob"));
    await assertFails(alice().doc("deletedCanvasProjects/p1").set({ ownerUid: "alice", deletedAt: serverTimestamp() }));
    await assertSucceeds(deleteWithTombstone(alice(), "alice"));
    await assertSucceeds(alice().doc("deletedCanvasProjects/p1").get());
    await assertFails(bob().doc("deletedCanvasProjects/p1").get());
  });

  it("an id reused by another user cannot reach the old elements, ops or snapshots (they stay until the cleanup removes them)", async () => {
    await assertSucceeds(deleteWithTombstone(alice(), "alice"));
    await assertFails(bob().doc("canvasProjects/p1").set({ ownerUid: "bob", opIndex: -1, opsSinceSnapshot: 0 }));
    await assertFails(alice().doc("canvasProjects/p1").set({ ownerUid: "alice", opIndex: -1, opsSinceSnapshot: 0 }));
    for (const path of ["elements/e1", "ops/0", "snapshots/s1", "snapshots/s1/parts/0"]) {
      await assertFails(bob().doc(`canvasProjects/p1/${path}`).get());
      await assertFails(alice().doc(`canvasProjects/p1/${path}`).get());
    }
    await assertFails(
      bob().doc("canvasProjects/p1/ops/1").set({ index: 1, type: "delete", elementId: "e1", createdAt: serverTimestamp() }),
    );
  });
});

describe("canvasMedia", () => {
  it("is readable by its owner only; referencedByCount and deletion are server-side", async () => {
    await assertSucceeds(alice().doc("canvasMedia/m1").get());
    await assertFails(bob().doc("canvasMedia/m1").get());
    await assertFails(anon().doc("canvasMedia/m1").get());
    await assertFails(alice().doc("canvasMedia/m1").update({ referencedByCount: 5 }));
    await assertFails(alice().doc("canvasMedia/m1").delete());
    await assertFails(alice().doc("canvasMedia/m2").set({ ownerUid: "alice", storageKey: "k2", referencedByCount: 0 }));
  });
});

describe("anything not named", () => {
  it("is denied", async () => {
    await assertFails(alice().doc("secrets/x").get());
    await assertFails(alice().doc("secrets/x").set({ a: 1 }));
  });
});
