/**
 * One provider call: with a signal that aborts on shutdown or when the call has taken too long.
 * The timer is cleared as soon as the call settles: with thousands of pods, a timer per call left
 * running for minutes (`AbortSignal.timeout`) would pile up. A provider that ignores the signal is
 * not waited for past it: the call rejects with the signal's reason, so neither a shutdown nor a
 * timed-out call hangs on it.
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
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(
    () => controller.abort(new Error(`provider call timed out after ${timeoutMs} ms`)),
    timeoutMs,
  );
  let gaveUp: () => void = () => {};
  const abandoned = new Promise<never>((_, reject) => {
    gaveUp = () => reject(controller.signal.reason);
    if (controller.signal.aborted) gaveUp();
    else controller.signal.addEventListener('abort', gaveUp, { once: true });
  });
  abandoned.catch(() => undefined);
  try {
    const pending = call({ signal: controller.signal });
    // The loser of the race must not surface as an unhandled rejection.
    pending.catch(() => undefined);
    return await Promise.race([pending, abandoned]);
  } finally {
    controller.signal.removeEventListener('abort', gaveUp);
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}
