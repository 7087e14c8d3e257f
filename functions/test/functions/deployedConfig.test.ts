/**
 * A deployed function with a bad setting fails at start, before touching any data, with an error
 * naming the setting, logged with its stack. (Deploy itself refuses such values at discovery:
 * discovery.test.ts.)
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const functionsLogger = require("firebase-functions/logger");

let functions: typeof import("../../src/index");
const logLevel = process.env.LOG_LEVEL;
beforeAll(async () => {
  functions = await import("../../src/index");
});
afterEach(() => {
  delete process.env.MIRROR_MAX_ATTEMPTS;
  process.env.LOG_LEVEL = logLevel;
  jest.restoreAllMocks();
});

it.each([
  ["MIRROR_MAX_ATTEMPTS", "0", "MIRROR_MAX_ATTEMPTS must be a number from 1 to 100"],
  ["LOG_LEVEL", "CHATTY", "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"],
])("mirrorQueueSweep refuses %s=%s", async (name, value, message) => {
  const logged: Record<string, unknown>[] = [];
  jest.spyOn(functionsLogger, "write").mockImplementation((entry) => void logged.push(entry as Record<string, unknown>));
  process.env[name] = value;
  const run = functions.mirrorQueueSweep.run({ scheduleTime: new Date().toISOString(), jobName: "test" });
  await expect(run).rejects.toMatchObject({ name: "ConfigError", message: expect.stringContaining(message) });
  expect(logged).toEqual([
    expect.objectContaining({
      severity: "ERROR",
      entryPoint: "mirrorQueueSweep",
      worker: "mirrorQueue",
      message: expect.stringMatching(new RegExp(`^config\\.invalid ConfigError: .*${message}.*\\n {4}at `)),
    }),
  ]);
});
