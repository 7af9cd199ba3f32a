/**
 * Kubernetes' two time formats. `metav1.Time` is RFC 3339 with whole seconds; `metav1.MicroTime`
 * (Lease `renewTime`, Event `eventTime`) must have exactly six fractional digits: the API server
 * rejects `Date#toISOString()`'s three.
 */

/** `2026-11-25T18:33:22Z`: for conditions, start times, timestamps. */
export function kubeTime(date: Date = new Date()): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** `2026-11-25T18:33:22.123000Z`: for MicroTime fields. */
export function microTime(date: Date = new Date()): string {
  return `${date.toISOString().slice(0, 23)}000Z`;
}
