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
};
