/**
 * One provider call: with a signal that aborts on shutdown or when the call has taken too long.
 * The timer is cleared as soon as the call settles: with thousands of pods, a timer per call left
 * running for minutes (`AbortSignal.timeout`) would pile up.
 */
import type { ProviderCallOptions } from '../provider/contracts.ts';

/** The default limit of one provider call. */
export const DEFAULT_PROVIDER_TIMEOUT_MS = 120_000;

export async function callProvider<T>(
  signal: AbortSignal,
  timeoutMs: number,
  call: (options: ProviderCallOptions) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(
    () => controller.abort(new Error(`provider call timed out after ${timeoutMs} ms`)),
    timeoutMs,
  );
  try {
    return await call({ signal: controller.signal });
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}
