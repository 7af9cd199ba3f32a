import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { type RequestCompletedMessage, requestChannel } from '../kube/client.ts';
import { silentLogger } from '../log.ts';
import type { Provider } from '../provider/contracts.ts';
import { podStatusChannel, podSyncChannel, traced } from './channels.ts';
import { startTracing } from './otel.ts';

const pod: Pod = { metadata: { namespace: 'ns', name: 'web', uid: 'uid-1' } };

function request(verb: string, path: string, code = 200): void {
  requestChannel.publish({
    verb,
    method: verb === 'patch' ? 'PATCH' : 'DELETE',
    path,
    startedAt: Date.now() - 2,
    resource: 'pods',
    subresource: verb === 'patch' ? 'status' : undefined,
    code,
    durationSeconds: 0.001,
  } satisfies RequestCompletedMessage);
}

/** Keeps what it is given (the SDK's in-memory exporter forgets it at shutdown). */
class CollectingExporter implements SpanExporter {
  readonly spans: ReadableSpan[] = [];
  export(spans: ReadableSpan[], done: (result: { code: number }) => void): void {
    this.spans.push(...spans);
    done({ code: 0 });
  }
  async shutdown(): Promise<void> {}
}

function start(sampleRatio = 1) {
  const exporter = new CollectingExporter();
  const tracing = startTracing({ sampleRatio, resource: { 'service.name': 'test' }, logger: silentLogger(), exporter });
  return { exporter, tracing };
}

const parent = (spans: ReadableSpan[], span: ReadableSpan | undefined) =>
  spans.find((s) => s.spanContext().spanId === span?.parentSpanContext?.spanId);

test('a sync, its provider call, the status write it asked for and its API write, linked', async () => {
  const { exporter, tracing } = start();
  let later: () => void = () => {};
  const provider = tracing.instrument({
    createPod: async () => {},
    getPod: () => Promise.reject(new Error('backend down')),
  } as unknown as Provider & { createPod(p: Pod): Promise<void>; getPod(): Promise<Pod> });
  try {
    await traced(
      podSyncChannel,
      () => ({ key: 'ns/web', pod }),
      async () => {
        await provider.createPod(pod);
        await provider.getPod().catch(() => undefined);
        // A loop started during the sync keeps its context after it: not the sync's work.
        later = () => request('list', '/api/v1/namespaces/ns/configmaps');
      },
    );
    later();
    await traced(
      podStatusChannel,
      () => ({ key: 'ns/web', pod }),
      async () => request('patch', '/api/v1/namespaces/ns/pods/web/status'),
    );
    // A look with nothing to write, and a resync with nothing to do, leave no span.
    await traced(
      podStatusChannel,
      () => ({ key: 'ns/web', pod }),
      async () => {},
    );
    await traced(
      podSyncChannel,
      () => ({ key: 'ns/web', pod }),
      async () => {},
    );
    // A later write, with no sync before it, starts a trace of its own.
    await traced(
      podStatusChannel,
      () => ({ key: 'ns/web', pod }),
      async () => request('delete', '/api/v1/namespaces/ns/pods/web'),
    );
  } finally {
    await tracing.shutdown(1000);
  }
  const spans = exporter.spans;
  assert.deepEqual(spans.map((s) => s.name).sort(), [
    'kube delete pods',
    'kube patch pods/status',
    'provider createPod',
    'provider getPod',
    'sync pod',
    'write pod status',
    'write pod status',
  ]);
  const sync = spans.find((s) => s.name === 'sync pod');
  assert.equal(sync?.parentSpanContext, undefined);
  assert.equal(
    parent(
      spans,
      spans.find((s) => s.name === 'provider createPod'),
    ),
    sync,
  );
  const failed = spans.find((s) => s.name === 'provider getPod');
  assert.equal(parent(spans, failed), sync);
  assert.equal(failed?.status.code, 2);
  assert.equal(failed?.status.message, 'backend down');
  const [first, second] = spans.filter((s) => s.name === 'write pod status');
  assert.equal(parent(spans, first), sync);
  assert.equal(second?.parentSpanContext, undefined);
  assert.equal(
    parent(
      spans,
      spans.find((s) => s.name === 'kube delete pods'),
    ),
    second,
  );
  const patch = spans.find((s) => s.name === 'kube patch pods/status');
  assert.equal(parent(spans, patch), first);
  assert.equal(patch?.attributes['url.path'], '/api/v1/namespaces/ns/pods/web/status');
  for (const span of spans) {
    assert.deepEqual(
      [span.attributes['k8s.namespace.name'], span.attributes['k8s.pod.name'], span.attributes['k8s.pod.uid']],
      ['ns', 'web', 'uid-1'],
      span.name,
    );
  }
});

test('a failed sync is an error span; never sampling records nothing; a stop unsubscribes', async () => {
  const { exporter, tracing } = start();
  await assert.rejects(
    traced(
      podSyncChannel,
      () => ({ key: 'ns/web', pod: undefined }),
      () => Promise.reject(new Error('no')),
    ),
  );
  await tracing.shutdown(1000);
  const [span] = exporter.spans;
  assert.equal(span?.status.code, 2);
  assert.equal(span?.attributes['k8s.pod.uid'], undefined, 'a pod gone from the API has no uid to give');
  assert.equal(podSyncChannel.hasSubscribers, false);
  assert.equal(podStatusChannel.hasSubscribers, false);
  assert.equal(requestChannel.hasSubscribers, false);

  const never = start(0);
  await traced(
    podSyncChannel,
    () => ({ key: 'ns/web', pod }),
    async () => {},
  );
  await never.tracing.shutdown(1000);
  assert.deepEqual(never.exporter.spans, []);
});

test('untraced, the message is never built', async () => {
  let built = false;
  const result = await traced(
    podSyncChannel,
    () => {
      built = true;
      return { key: 'ns/web', pod };
    },
    async () => 42,
  );
  assert.equal(result, 42);
  assert.equal(built, false);
});
