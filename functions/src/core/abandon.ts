/**
 * Stops waiting for `work` when `signal` aborts: resolves to `undefined` then, or to the work's
 * result. The work itself goes on (a Firestore call cannot be cancelled); its later failure is
 * handed to `onLateError`, never left unhandled. For a run that must end in bounded time even
 * when a call it waits for does not answer.
 */
export async function unlessAbandoned<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  onLateError: (error: unknown) => void,
): Promise<T | undefined> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(onLateError);
    return undefined;
  }
  let onAbort: () => void = () => undefined;
  const abandoned = new Promise<undefined>((resolve) => {
    onAbort = () => {
      work.catch(onLateError);
      resolve(undefined);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([work, abandoned]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
