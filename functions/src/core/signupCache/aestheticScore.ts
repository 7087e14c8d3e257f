/**
 * `aestheticScore` ranks items (the signup page takes the highest). The owner's client writes it,
 * so only finite values from 0 to 10 are published or ranked; anything else is left out.
 */
export const AESTHETIC_SCORE_RANGE = { min: 0, max: 10 } as const;

/** Whether `value` is a score the mirror publishes and the signup page ranks. */
export function isAestheticScore(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= AESTHETIC_SCORE_RANGE.min && value <= AESTHETIC_SCORE_RANGE.max;
}
