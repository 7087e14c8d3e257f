import { INSTALL_HINT, findEmulator, killOnExit, startEmulator, waitUntilReady, type RunningEmulator } from "../../dev/emulator";

declare global {
  // Shared between globalSetup and globalTeardown, which jest runs in one process.
  var __firestoreEmulator: RunningEmulator | undefined;
}

export default async function globalSetup(): Promise<void> {
  const existing = process.env.FIRESTORE_EMULATOR_HOST;
  if (existing) {
    await waitUntilReady(existing, 10_000);
    return;
  }
  const found = findEmulator();
  if (!found) throw new Error(INSTALL_HINT);
  const emulator = await startEmulator(found);
  globalThis.__firestoreEmulator = emulator;
  // Test workers are forked after globalSetup and inherit this.
  process.env.FIRESTORE_EMULATOR_HOST = emulator.hostPort;
  // If jest dies without running globalTeardown, take the emulator down with it.
  killOnExit(emulator);
}
