import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killGroupIfRunning, spawnTethered, stopProcessGroup } from "../../dev/emulator";

/**
 * What stops the processes a test run started, and nothing else: `.ci/stop-groups`, which `.ci/run`
 * runs at its end, and the emulator's last-resort kill at the exit of the process that started it.
 * Both are handed process group ids that may be stale: a group that has ended, whose number the
 * system may since have given to someone else's processes.
 */
const STOP_GROUPS = join(__dirname, "../../../.ci/stop-groups");

let dir: string;
const started: ChildProcess[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "pgids-"));
});
afterEach(async () => {
  await Promise.all(started.splice(0).map(stopProcessGroup));
  rmSync(dir, { recursive: true, force: true });
});

/** A process in a group of its own (this test's to stop), with `env` added to this process's environment. */
function group(env: Record<string, string> = {}): { child: ChildProcess; ended: Promise<NodeJS.Signals | null> } {
  const child = spawn("sleep", ["600"], { env: { ...process.env, ...env }, detached: true, stdio: "ignore" });
  started.push(child);
  return { child, ended: new Promise((resolve) => child.once("exit", (_code, signal) => resolve(signal))) };
}

it(".ci/stop-groups kills the listed groups that carry the run's WORKERS_PGID_FILE, and no listed group that does not", async () => {
  const file = join(dir, "pgids");
  const ours = group({ WORKERS_PGID_FILE: file });
  // A group listed under a number the system reused: someone else's, without this run's file in its environment.
  const reused = group();
  const anotherRun = group({ WORKERS_PGID_FILE: join(dir, "another-run") });
  writeFileSync(file, `${ours.child.pid}\n${reused.child.pid}\n${anotherRun.child.pid}\nnot-a-pgid\n\n`);

  const run = spawnSync("bash", [STOP_GROUPS, file], { encoding: "utf8" });

  expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
  expect(await ours.ended).toBe("SIGKILL");
  // The others end by the signal sent now, which shows no signal ended them before.
  reused.child.kill("SIGTERM");
  anotherRun.child.kill("SIGTERM");
  expect({ reused: await reused.ended, anotherRun: await anotherRun.ended }).toEqual({ reused: "SIGTERM", anotherRun: "SIGTERM" });
});

it(".ci/stop-groups does nothing when no file was written (the run started no emulator)", () => {
  const run = spawnSync("bash", [STOP_GROUPS, join(dir, "missing")], { encoding: "utf8" });
  expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
});

it("the last-resort kill leaves alone a group that has already been stopped, and kills one that runs", async () => {
  const stopped = spawnTethered("sleep", ["600"]);
  started.push(stopped);
  await stopProcessGroup(stopped);
  const running = spawnTethered("sleep", ["600"]);
  started.push(running);
  const ended = new Promise((resolve) => running.once("exit", (_code, signal) => resolve(signal)));
  const kill = jest.spyOn(process, "kill");
  try {
    killGroupIfRunning(stopped);
    expect(kill).not.toHaveBeenCalled();
    killGroupIfRunning(running);
    expect(kill.mock.calls).toEqual([[-running.pid!, "SIGKILL"]]);
  } finally {
    kill.mockRestore();
  }
  expect(await ended).toBe("SIGKILL");
});
