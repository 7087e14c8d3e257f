/** Time as a dependency, so leases, backoff and TTLs can be tested without waiting. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
