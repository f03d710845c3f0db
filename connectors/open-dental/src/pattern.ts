/**
 * Open Dental's time pattern (`appointment.Pattern`, `appointmenttype.Pattern`): one character per
 * 5 minutes, `X` for provider time and `/` for assistant time. "Stored in 5 minute increments"
 * whatever the display increment is, so the length alone gives the duration.
 */
export const PATTERN_MINUTES_PER_CHARACTER = 5;

/** Minutes of a pattern; an empty pattern is unknown (appointment types compute theirs from codes). */
export function patternMinutes(pattern: unknown): number | undefined {
  if (typeof pattern !== 'string') return undefined;
  const text = pattern.trim();
  return text === '' ? undefined : text.length * PATTERN_MINUTES_PER_CHARACTER;
}
