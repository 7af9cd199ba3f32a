/**
 * Waiting for a condition, the one way every test waits: poll with a deadline, never sleep for a
 * fixed time. `waitFor` is for conditions that take I/O (an API server, a process); `until` for
 * in-process state, polled every few milliseconds.
 */

/** Polls `probe` until it returns a value other than undefined/false; throws with `what` after the timeout. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError
        ? `: last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`
        : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}

/** Waits until `predicate()` holds, checking every 2 ms for up to `timeoutMs`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  await waitFor(what, () => predicate() || undefined, { timeoutMs, intervalMs: 2 });
}
