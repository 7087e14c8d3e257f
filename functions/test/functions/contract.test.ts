/**
 * The core API the app imports from the build. The exported Cloud Functions are checked through
 * firebase-functions' own discovery in discovery.test.ts.
 */
describe("the core API for the app", () => {
  it("is built to lib/core/index.js and exports loadProject(db, projectId)", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const core = require("../../lib/core/index.js");
    expect(typeof core.loadProject).toBe("function");
    expect(core.loadProject.length).toBe(2);
  });
});
