export default async function globalTeardown(): Promise<void> {
  await globalThis.__stopFirestoreEmulator?.();
  globalThis.__stopFirestoreEmulator = undefined;
}
