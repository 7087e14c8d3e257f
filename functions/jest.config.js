/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/tsconfig.test.json" }] },
  globalSetup: "<rootDir>/test/harness/globalSetup.ts",
  globalTeardown: "<rootDir>/test/harness/globalTeardown.ts",
  setupFiles: ["<rootDir>/test/harness/setupEnv.ts"],
  setupFilesAfterEnv: ["<rootDir>/test/harness/cleanup.ts"],
  // Two cores on CI: the emulator needs one of them.
  maxWorkers: 2,
  // A hang guard only: tests wait on state or events with deadlines of their own, which grow with
  // the work (eventuallyWhileProgressing in test/harness/firestore.ts), not on a total tuned to a quiet machine.
  testTimeout: 600_000,
  // Also a hang guard: the time a test worker has to exit once jest is done with it, before jest kills it and
  // reports it "failed to exit gracefully". Jest's default, 500 ms of wall-clock time, is shorter than a busy
  // two-core machine takes to schedule a worker that has nothing left open (at load 20, workers with no handle
  // left but the IPC channel took 550-700 ms and were killed). A leaked socket, server or interval still keeps a
  // worker past this and is still reported.
  workerGracefulExitTimeout: 10_000,
};
