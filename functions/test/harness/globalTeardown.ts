export default async function globalTeardown(): Promise<void> {
  await globalThis.__firestoreEmulator?.stop();
  globalThis.__firestoreEmulator = undefined;
}
