/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/tsconfig.test.json" }] },
  globalSetup: "<rootDir>/test/harness/globalSetup.ts",
  globalTeardown: "<rootDir>/test/harness/globalTeardown.ts",
  setupFiles: ["<rootDir>/test/harness/setupEnv.ts"],
  // Two cores on CI: the emulator needs one of them.
  maxWorkers: 2,
  testTimeout: 60_000,
};
