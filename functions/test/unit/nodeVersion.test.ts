import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The deploy runtime is said once per place that needs it, and the places agree; development may also use Node 20. */
const REPO = join(__dirname, "../../..");
const read = (path: string) => readFileSync(join(REPO, path), "utf8");

it("firebase.json's runtime, package.json's engines and the README name the same Node major", () => {
  const runtime = JSON.parse(read("firebase.json")).functions.map((f: { runtime: string }) => f.runtime);
  const pkg = JSON.parse(read("functions/package.json"));
  expect(runtime).toEqual(["nodejs22"]);
  expect(pkg.engines).toEqual({ node: "22" });
  expect(read("README.md")).toMatch(/Node 22 in production: `firebase.json` sets `runtime: nodejs22`/);
});

it("development machines may run Node 20 or 22 without npm warnings (devEngines, checked by npm instead of engines)", () => {
  const pkg = JSON.parse(read("functions/package.json"));
  expect(pkg.devEngines).toEqual({ runtime: { name: "node", version: "20 || 22", onFail: "error" } });
});
