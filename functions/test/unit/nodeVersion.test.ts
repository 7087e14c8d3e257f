import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The deploy runtime is said once (firebase.json), where the code runs once (package.json's engines),
 * and the README says both. firebase-tools reads engines only when firebase.json names no runtime.
 */
const REPO = join(__dirname, "../../..");
const read = (path: string) => readFileSync(join(REPO, path), "utf8");

it("firebase.json deploys on Node 22, package.json's engines allow 20 and 22, and the README says so", () => {
  const runtime = JSON.parse(read("firebase.json")).functions.map((f: { runtime: string }) => f.runtime);
  const pkg = JSON.parse(read("functions/package.json"));
  expect(runtime).toEqual(["nodejs22"]);
  // Not "22" alone: npm warns EBADENGINE on Node 20 when npx installs the project to run its bin (`npx workers`).
  expect(pkg.engines).toEqual({ node: "20 || 22" });
  expect(pkg.devEngines).toBeUndefined();
  expect(read("README.md")).toMatch(/Node 22 in production: `firebase.json` sets `runtime: nodejs22`/);
});
