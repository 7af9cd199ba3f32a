/**
 * Follows one object by name with nothing but the `watch` permission: a watch restricted to
 * `metadata.name` and started without a resourceVersion first delivers the object as it is now
 * (a synthetic ADDED) and then every change, so each reconnect also re-reads the current state.
 * An informer would need `list` too, which the leader-election Lease and the node's own
 * CertificateSigningRequest do not otherwise need.
 *
 * Never throws: watch failures are retried with a jittered backoff (reported to `onError`) until
 * `signal` aborts. The server ends each watch after a few minutes, which doubles as a re-read,
 * so a watch that silently stopped delivering cannot stall the follower for long.
 */
import { sleep } from '../util/sleep.ts';
import type { KubeClient } from './client.ts';
import type { KubeObject, ResourceType } from './resources.ts';

export interface FollowOptions {
  namespace?: string;
  signal: AbortSignal;
  /** Called with each failed watch before the retry. */
  onError?: (error: unknown) => void;
}

/** Yields the object's every observed state, and `undefined` when it is deleted, until `signal` aborts. */
export async function* followObject<T extends KubeObject>(
  client: Pick<KubeClient, 'watch'>,
  type: ResourceType<T>,
  name: string,
  options: FollowOptions,
): AsyncGenerator<T | undefined> {
  const { signal } = options;
  let failures = 0;
  while (!signal.aborted) {
    const started = Date.now();
    try {
      for await (const event of client.watch(type, {
        ...(options.namespace ? { namespace: options.namespace } : {}),
        fieldSelector: `metadata.name=${name}`,
        timeoutSeconds: 120 + Math.floor(Math.random() * 60),
        signal,
      })) {
        failures = 0;
        if (event.type === 'BOOKMARK') continue;
        yield event.type === 'DELETED' ? undefined : event.object;
      }
      // A watch the server ends at once, again and again (a misbehaving proxy), must not spin.
      if (Date.now() - started < 1000) await sleep(1000, signal);
    } catch (error) {
      if (signal.aborted) return;
      failures++;
      options.onError?.(error);
      await sleep(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)) * (0.5 + Math.random()), signal);
    }
  }
}
