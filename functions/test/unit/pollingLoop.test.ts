import { PeriodicWorker } from "../../src/core/periodicWorker";
import { PollingLoop, type PollingLoopOptions } from "../../src/core/pollingLoop";
import { ManualClock, memoryLogger } from "../harness/deps";
import { eventually } from "../harness/firestore";

/**
 * The loop every long-running worker shares: rounds, the delay each asks for, failures, heartbeats
 * and a stop that waits for the round in hand but not for the wait. Nothing here depends on the
 * machine's speed: each test waits for the state it needs.
 */
const HOUR = 3_600_000;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function loopWith(overrides: Partial<PollingLoopOptions>) {
  const logger = memoryLogger();
  const clock = new ManualClock(Date.UTC(2030, 0, 1));
  const loop = new PollingLoop({
    worker: "test",
    clock,
    logger,
    heartbeatMs: HOUR,
    round: async () => HOUR,
    onError: () => HOUR,
    ...overrides,
  });
  return { loop, logger, clock };
}

const messages = (logger: ReturnType<typeof memoryLogger>) => logger.entries.map((e) => e.message);

it("runs the next round after the delay the round asked for, and at once for 0", async () => {
  const delays = [0, 0, 5, HOUR];
  const { loop } = loopWith({ round: async () => delays.shift()! });
  void loop.start();
  await eventually(
    async () => loop.rounds,
    (n) => n === 4,
    20_000,
    "four rounds",
  );
  await loop.stop();
  expect({ rounds: loop.rounds, state: loop.current }).toEqual({ rounds: 4, state: "stopped" });
});

it("stops during a wait without waiting it out", async () => {
  const { loop } = loopWith({});
  const done = loop.start();
  await eventually(
    async () => loop.rounds,
    (n) => n === 1,
    20_000,
    "the first round",
  );
  // The wait is an hour: resolving at all shows the stop ended it.
  await loop.stop();
  await done;
  expect(loop.current).toBe("stopped");
});

it("lets the round in hand finish before it reports stopped, and starts no other", async () => {
  const gate = deferred();
  const entered = deferred();
  const { loop } = loopWith({
    round: async () => {
      entered.resolve();
      await gate.promise;
      return 0;
    },
  });
  void loop.start();
  await entered.promise;
  let stopped = false;
  const stopping = loop.stop().then(() => (stopped = true));
  await new Promise((r) => setImmediate(r));
  expect({ stopped, state: loop.current }).toEqual({ stopped: false, state: "stopping" });
  gate.resolve();
  await stopping;
  expect({ rounds: loop.rounds, state: loop.current }).toEqual({ rounds: 1, state: "stopped" });
});

it("logs a failed round with its stack and goes on after the error delay", async () => {
  let calls = 0;
  const { loop, logger } = loopWith({
    round: async () => {
      calls++;
      if (calls === 1) throw new Error("Firestore unavailable", { cause: new Error("socket hang up") });
      return HOUR;
    },
    onError: () => 1,
  });
  void loop.start();
  await eventually(
    async () => loop.rounds,
    (n) => n === 2,
    20_000,
    "the round after the failure",
  );
  await loop.stop();
  const failed = logger.entries.find((e) => e.message === "worker.round_failed") as {
    worker: string;
    error: { message: string; stack: string; cause: { message: string } };
  };
  expect(failed.worker).toBe("test");
  expect(failed.error.message).toBe("Firestore unavailable");
  expect(failed.error.stack).toContain("pollingLoop.test.ts");
  expect(failed.error.cause.message).toBe("socket hang up");
  expect({ failedRounds: loop.failedRounds, rounds: loop.rounds }).toEqual({ failedRounds: 1, rounds: 2 });
});

it("beats with the worker's fields and the next round's time by the injected clock; a failed field read still beats", async () => {
  let fail = false;
  const { loop, logger, clock } = loopWith({
    heartbeatMs: 5,
    heartbeatFields: async () => {
      if (fail) throw new Error("count failed");
      return { queueDepth: 7 };
    },
  });
  void loop.start();
  const beat = await eventually(
    async () => logger.entries.find((e) => e.message === "worker.heartbeat" && e.nextRoundAt !== null),
    Boolean,
    20_000,
    "a heartbeat during the wait",
  );
  expect(beat).toMatchObject({
    worker: "test",
    rounds: 1,
    failedRounds: 0,
    running: false,
    queueDepth: 7,
    nextRoundAt: new Date(clock.now() + HOUR).toISOString(),
  });
  expect(typeof beat!.heapUsedMb).toBe("number");
  fail = true;
  const failedAt = await eventually(
    async () => messages(logger).indexOf("worker.heartbeat_failed"),
    (i) => i >= 0,
    20_000,
    "a failed field read",
  );
  const nextBeat = await eventually(
    async () => logger.entries.slice(failedAt).find((e) => e.message === "worker.heartbeat"),
    Boolean,
    20_000,
    "the beat after it",
  );
  await loop.stop();
  expect(nextBeat).toMatchObject({ worker: "test", rounds: 1 });
  expect(nextBeat).not.toHaveProperty("queueDepth");
});

it("a periodic worker runs its job at start, logs a failed run with its stack, and stops between runs", async () => {
  const logger = memoryLogger();
  let calls = 0;
  const worker = new PeriodicWorker(
    "job",
    async () => {
      calls++;
      throw new Error("job failed");
    },
    HOUR,
    { clock: new ManualClock(), logger, heartbeatMs: HOUR },
  );
  const done = worker.start();
  await eventually(async () => messages(logger).includes("worker.round_failed"), Boolean, 20_000, "the first run");
  await worker.stop();
  await done;
  expect(calls).toBe(1);
  expect(messages(logger)).toEqual(["worker.started", "worker.round_failed", "worker.stopped"]);
  expect(logger.entries[1]).toMatchObject({ worker: "job", error: { message: "job failed" } });
  expect(logger.entries[2]).toMatchObject({ worker: "job", runs: 1, failures: 1 });
});
