/**
 * The Firestore price list the report uses: Standard edition, USD per 100,000 operations beyond
 * the free quota, from https://cloud.google.com/firestore/pricing ("Pricing by location"), as
 * checked on 2026-11-29. nam5 (United States multi-region) and us-central1 (Iowa, regional).
 * Prices change; the report always prints this list next to its costs.
 */
export const PRICES = {
  source: "https://cloud.google.com/firestore/pricing (Standard edition, pricing by location)",
  checked: "2026-11-29",
  perHundredThousand: {
    nam5: { reads: 0.06, writes: 0.18, deletes: 0.02 },
    "us-central1": { reads: 0.03, writes: 0.09, deletes: 0.01 },
  },
} as const;

export type Location = keyof typeof PRICES.perHundredThousand;

/** USD per million tasks for the given billed operations per task. */
export function pricePerMillion(perTask: { reads: number; writes: number; deletes: number }, location: Location): number {
  const p = PRICES.perHundredThousand[location];
  return (perTask.reads * p.reads + perTask.writes * p.writes + perTask.deletes * p.deletes) * 10;
}
