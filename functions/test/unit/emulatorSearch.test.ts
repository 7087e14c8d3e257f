import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INSTALL_HINT, ensureEmulator, findEmulator } from "../../dev/emulator";

/** How the harness finds an emulator, on a fake filesystem; and that it fails at once when there is none. */
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "emu-search-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const touch = (path: string) => {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, "");
};

it("prefers FIRESTORE_EMULATOR_JAR, then the Google Cloud SDK, then firebase-tools' newest cached jar", () => {
  const sdk = join(root, "sdk");
  const cache = join(root, "cache");
  touch(join(cache, "cloud-firestore-emulator-v1.9.0.jar"));
  touch(join(cache, "cloud-firestore-emulator-v1.19.9.jar"));
  expect(findEmulator({ env: {}, sdkDirs: [sdk], firebaseCache: cache })?.source).toBe(
    `${join(cache, "cloud-firestore-emulator-v1.19.9.jar")} (firebase-tools cache)`,
  );

  touch(join(sdk, "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"));
  const fromSdk = findEmulator({ env: {}, sdkDirs: [sdk], firebaseCache: cache })!;
  expect(fromSdk.source).toBe(join(sdk, "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"));
  expect(fromSdk.args("127.0.0.1", 9999)).toEqual(expect.arrayContaining(["start", "--host=127.0.0.1", "--port=9999"]));

  expect(findEmulator({ env: { FIRESTORE_EMULATOR_JAR: "/x/emu.jar" }, sdkDirs: [sdk], firebaseCache: cache })?.source).toBe(
    "/x/emu.jar (FIRESTORE_EMULATOR_JAR)",
  );
});

it("fails at once, saying what to install, when no emulator is installed", async () => {
  const nowhere = { env: {}, sdkDirs: [join(root, "none")], firebaseCache: join(root, "none") };
  expect(findEmulator(nowhere)).toBeUndefined();
  await expect(ensureEmulator(nowhere)).rejects.toThrow(INSTALL_HINT);
  expect(INSTALL_HINT).toContain("cloud-firestore-emulator");
});
