/**
 * Where the controllers announce the work a trace is made of, as undici does: Node's
 * `diagnostics_channel` tracing channels. The controllers know nothing of OpenTelemetry; with
 * tracing on, src/tracing/otel.ts subscribes and turns each traced call into a span. With nobody
 * subscribed (the default) {@link traced} calls the function straight away: no message is built, no
 * context is kept, and the OpenTelemetry SDK is never loaded.
 *
 * - `virtual-kubelet:pod:sync`: one sync of a pod key by the pod controller (provider calls inside).
 * - `virtual-kubelet:pod:status`: one look of the status manager at a pod (its API writes inside).
 *
 * Provider calls and API requests made inside them become child spans (otel.ts wraps the provider,
 * and reads `virtual-kubelet:kube:request`).
 */
import { type TracingChannel, tracingChannel } from 'node:diagnostics_channel';
import type { Pod } from 'kubernetes-types/core/v1.js';

/** What a pod span is about: the key, and the API's pod when there is one (for its uid). */
export interface PodWorkMessage {
  /** `namespace/name`. */
  key: string;
  pod: Pod | undefined;
}

/** One sync of a pod by the pod controller. */
export const podSyncChannel: TracingChannel<unknown, PodWorkMessage> = tracingChannel('virtual-kubelet:pod:sync');

/** One look of the status manager at a pod: a status patch, a removal, or nothing to write. */
export const podStatusChannel: TracingChannel<unknown, PodWorkMessage> = tracingChannel('virtual-kubelet:pod:status');

/**
 * Runs `work` as one traced call on `channel` when someone listens, else just runs it. `message`
 * is only called when someone listens, so an untraced call allocates nothing.
 */
export function traced<T, M extends object>(
  channel: TracingChannel<unknown, M>,
  message: () => M,
  work: () => Promise<T>,
): Promise<T> {
  if (!channel.hasSubscribers) return work();
  return channel.tracePromise(work, message());
}
