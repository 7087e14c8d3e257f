import { ensureEmulator } from "../../dev/emulator";

declare global {
  // Shared between globalSetup and globalTeardown, which jest runs in one process.
  var __stopFirestoreEmulator: (() => Promise<void>) | undefined;
}

/** Test workers are forked after this and inherit FIRESTORE_EMULATOR_HOST. */
export default async function globalSetup(): Promise<void> {
  const emulator = await ensureEmulator();
  globalThis.__stopFirestoreEmulator = emulator.stop;
}
