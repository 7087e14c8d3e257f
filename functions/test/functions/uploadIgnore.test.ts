/**
 * What `firebase deploy` uploads from functions/: the files firebase-tools' own walk
 * (`readdirRecursive`, as its packageSource calls it) keeps with firebase.json's `ignore` list and the
 * entries it always adds. Local files (`*.local`), debug logs and the demo project's values stay home.
 */
import { rmSync, writeFileSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

// eslint-disable-next-line @typescript-eslint/no-require-imports -- firebase-tools ships no types for its internals
const { readdirRecursive } = require("firebase-tools/lib/fsAsync");

const FUNCTIONS_DIR = join(__dirname, "../..");
/** Files named so that no one's real files are touched: created for the test, removed after it. */
const probes = [".env.upload-probe.local", ".secret.upload-probe.local", "upload-probe-debug.log"];

let uploaded: string[];
beforeAll(async () => {
  for (const name of probes) writeFileSync(join(FUNCTIONS_DIR, name), "probe\n", { flag: "wx" });
  const config = JSON.parse(readFileSync(join(FUNCTIONS_DIR, "../firebase.json"), "utf8")).functions[0];
  const ignore = [...config.ignore, "firebase-debug.log", "firebase-debug.*.log", ".runtimeconfig.json"];
  const files: { name: string }[] = await readdirRecursive({ path: FUNCTIONS_DIR, ignoreStrings: ignore });
  uploaded = files.map((f) => relative(FUNCTIONS_DIR, f.name));
});
afterAll(() => {
  for (const name of probes) rmSync(join(FUNCTIONS_DIR, name), { force: true });
});

it("uploads the build, the manifest and the deploy values", () => {
  expect(uploaded).toEqual(expect.arrayContaining(["lib/index.js", "package.json", "package-lock.json", ".env"]));
});

it("leaves out local files, debug logs, the demo project's values, sources and tests", () => {
  const leaked = uploaded.filter((f) => /\.local$|\.log$|^\.env\.demo-|^\.npmrc$|^(src|test|dev|bench|build|node_modules)\//.test(f));
  expect(leaked).toEqual([]);
});
