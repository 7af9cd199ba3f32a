/**
 * Kubernetes' two time formats. `metav1.Time` is RFC 3339 with whole seconds; `metav1.MicroTime`
 * (Lease `renewTime`, Event `eventTime`) must have exactly six fractional digits: the API server
 * rejects `Date#toISOString()`'s three.
 */

/** The second last formatted by {@link kubeTime}, and its text: most calls in a burst fall in the same second. */
let formattedSecond = Number.NaN;
let formattedText = '';

/** `2026-11-25T18:33:22Z`: for conditions, start times, timestamps. */
export function kubeTime(date: Date = new Date()): string {
  const second = Math.floor(date.getTime() / 1000);
  if (second !== formattedSecond) {
    formattedText = `${date.toISOString().slice(0, 19)}Z`; // throws for an invalid date, as before
    formattedSecond = second;
  }
  return formattedText;
}

/** `2026-11-25T18:33:22.123000Z`: for MicroTime fields. */
export function microTime(date: Date = new Date()): string {
  return `${date.toISOString().slice(0, 23)}000Z`;
}
