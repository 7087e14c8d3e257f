import type { Clock } from "../clock";

/** How often a deadline signal reads the injected clock (a test's clock moves without real time passing). */
const CLOCK_CHECK_MS = 250;

/**
 * An AbortSignal that fires at `deadlineMs` of `clock`: after the real time left at the start
 * has passed, or as soon as the clock reads the deadline, whichever comes first. Call `dispose`
 * when the work is over, so no timer outlives it.
 */
export function deadlineSignal(clock: Clock, deadlineMs: number): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const abort = () => controller.abort(new DOMException("the deadline passed", "TimeoutError"));
  const remainingMs = deadlineMs - clock.now();
  if (remainingMs <= 0) abort();
  // Node's timers take at most 2^31 - 1 ms.
  const timer = setTimeout(abort, Math.min(Math.max(remainingMs, 0), 2 ** 31 - 1));
  const watch = setInterval(() => {
    if (clock.now() >= deadlineMs) abort();
  }, CLOCK_CHECK_MS);
  timer.unref();
  watch.unref();
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      clearInterval(watch);
    },
  };
}
