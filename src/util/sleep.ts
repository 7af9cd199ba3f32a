/**
 * Waiting that cooperates with shutdown: every long-running loop sleeps through these, so an
 * aborted signal ends the wait at once and no timer keeps the process alive afterwards.
 */

/** Resolves after `ms`, or as soon as `signal` aborts (it never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * A sleep another part of the program can cut short: loops wait with {@link Wakeup.wait}
 * and an event handler calls {@link Wakeup.wake}, which ends every current wait. A wake that
 * arrives while nobody waits is remembered, so the next wait returns at once.
 */
export class Wakeup {
  #pending = false;
  readonly #waiters = new Set<() => void>();

  wake(): void {
    if (this.#waiters.size === 0) {
      this.#pending = true;
      return;
    }
    for (const done of [...this.#waiters]) done();
  }

  /** Waits up to `ms` (forever when Infinity), or until woken or aborted. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#pending || signal?.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#waiters.delete(done);
        resolve();
      };
      this.#waiters.add(done);
      if (Number.isFinite(ms)) timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * Waits for `promise`, or until `signal` aborts (then resolves undefined). Unlike racing a promise
 * against `new Promise(r => signal.addEventListener('abort', r))`, it leaves no listener behind on
 * the signal, which every long-running loop shares.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
