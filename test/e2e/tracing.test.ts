/**
 * Tracing end to end: a real OpenTelemetry Collector (built from its Go modules, tools/otelcol)
 * receiving OTLP on 127.0.0.1, the real control plane, and the virtual kubelet CLI with
 * `--trace-exporter otlp`. A pod is created, runs and is deleted; the spans the collector wrote
 * are read back: one trace per sync with the provider call and the status write under it, the API
 * writes under the status write, every span naming the pod. Without the flag the SDK is never loaded.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { isNotFound } from '../../src/errors.ts';
import { Pods } from '../../src/kube/resources.ts';
import { freePort } from '../../tools/kube/processes.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { type CollectedSpan, type Collector, startCollector } from '../../tools/otelcol/collector.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

const RECORD_IMPORTS = join(dirname(fileURLToPath(import.meta.url)), 'support', 'record-imports.ts');

describe('tracing', () => {
  let cluster: TestCluster;
  let collector: Collector;
  let namespace: string;

  before(
    async () => {
      cluster = await testCluster();
      namespace = await cluster.createNamespace('tracing');
      collector = await startCollector((line) => process.stderr.write(`otelcol: ${line}\n`));
    },
    // The first run builds the collector (about a minute of CPU on 2 cores, more when loaded).
    { timeout: 30 * 60_000 },
  );

  after(async () => {
    await collector?.stop();
    await cluster?.deleteNamespace(namespace);
  });

  const recordImports = () => {
    const path = join(mkdtempSync(join(tmpdir(), 'vk-imports-')), 'imports.txt');
    return {
      path,
      env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${RECORD_IMPORTS}`, VK_RECORD_IMPORTS: path },
      loaded: () => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : []),
    };
  };

  async function runPod(vk: VirtualKubeletProcess, name: string): Promise<string> {
    await cluster.client.create(Pods, {
      metadata: { name, namespace },
      spec: {
        nodeName: vk.nodeName,
        tolerations: [{ key: 'virtual-kubelet.io/provider', operator: 'Exists' }],
        containers: [{ name: 'app', image: 'busybox' }],
      },
    } as Pod);
    const running = await waitFor(`pod ${name} Running`, async () => {
      const pod = await cluster.client.get<Pod>(Pods, { namespace, name });
      return pod.status?.phase === 'Running' ? pod : undefined;
    });
    await cluster.client.delete(Pods, { namespace, name });
    await waitFor(`pod ${name} gone`, async () => {
      try {
        await cluster.client.get<Pod>(Pods, { namespace, name });
        return false;
      } catch (error) {
        if (isNotFound(error)) return true;
        throw error;
      }
    });
    return running.metadata?.uid ?? '';
  }

  test("a pod's syncs, provider calls and API writes arrive in the collector with their parents", async () => {
    const imports = recordImports();
    const vk = await VirtualKubeletProcess.start(cluster, {
      args: [
        '--trace-exporter',
        'otlp',
        '--trace-endpoint',
        collector.endpoint,
        '--trace-service-name',
        'vk-e2e',
        '--trace-tag',
        'cluster=e2e,team=nodes',
      ],
      env: imports.env,
    });
    let uid: string;
    try {
      uid = await runPod(vk, 'traced');
    } finally {
      // The stop flushes what the batch processor still holds.
      const { code } = await vk.stop('SIGTERM');
      await vk.destroy();
      assert.equal(code, 0, vk.log().slice(-2000));
    }
    assert.ok(
      imports.loaded().some((url) => url.includes('/@opentelemetry/sdk-trace/')),
      'the SDK was loaded',
    );
    assert.doesNotMatch(vk.log(), /tracing: /, 'no export failure was logged');

    const ofPod = (span: CollectedSpan) => span.attributes['k8s.pod.name'] === 'traced';
    const spans = await collector.waitForSpans('the pod deleted from the API under a status write', (all) =>
      all.some((s) => ofPod(s) && s.name === 'kube delete pods'),
    );
    const mine = spans.filter((s) => s.resource['k8s.node.name'] === vk.nodeName);
    const byId = new Map(mine.map((s) => [s.spanId, s]));
    const parentOf = (span: CollectedSpan) => byId.get(span.parentSpanId);

    // Every span is about the pod, names it fully, and belongs to this node's resource.
    for (const span of mine) {
      assert.ok(ofPod(span), `${span.name} names another pod: ${JSON.stringify(span.attributes)}`);
      assert.equal(span.attributes['k8s.namespace.name'], namespace, span.name);
      assert.equal(span.attributes['k8s.pod.uid'], uid, span.name);
      assert.equal(span.resource['service.name'], 'vk-e2e');
      assert.equal(span.resource.provider, 'mock');
      assert.equal(span.resource.nodeName, vk.nodeName);
      assert.equal(span.resource.cluster, 'e2e');
      assert.equal(span.resource.team, 'nodes');
      // Roots are the pod work; everything else hangs under a span of the same trace.
      if (span.name === 'sync pod' || span.name === 'write pod status') continue;
      const parent = parentOf(span);
      assert.ok(parent, `${span.name} has its parent ${span.parentSpanId} among the spans`);
      assert.equal(parent.traceId, span.traceId);
    }

    const syncs = mine.filter((s) => s.name === 'sync pod');
    const create = mine.find((s) => s.name === 'provider createPod');
    assert.ok(create, `a createPod span among ${mine.map((s) => s.name).join(', ')}`);
    assert.equal(parentOf(create)?.name, 'sync pod');
    const deleteCall = mine.find((s) => s.name === 'provider deletePod');
    assert.equal(deleteCall && parentOf(deleteCall)?.name, 'sync pod');
    assert.ok(syncs.length >= 2, 'a sync for the creation and one for the deletion');
    assert.ok(
      syncs.every((s) => s.parentSpanId === ''),
      'a sync starts a trace',
    );

    // The status write a sync asked for continues that sync's trace; its API write is under it.
    const patch = mine.find((s) => s.name === 'kube patch pods/status');
    assert.ok(patch, 'a status patch span');
    assert.equal(patch.kind, 3, 'an API request is a CLIENT span');
    assert.equal(patch.attributes['http.request.method'], 'PATCH');
    assert.equal(patch.attributes['url.path'], `/api/v1/namespaces/${namespace}/pods/traced/status`);
    assert.equal(patch.attributes['http.response.status_code'], 200);
    const write = parentOf(patch);
    assert.equal(write?.name, 'write pod status');
    assert.ok(
      mine.some((s) => s.name === 'write pod status' && parentOf(s)?.name === 'sync pod'),
      'a status write is the child of the sync that asked for it',
    );
    const removal = mine.find((s) => s.name === 'kube delete pods');
    assert.equal(removal && parentOf(removal)?.name, 'write pod status');
    // Children lie within their parents' time, except a status write, which follows its sync. A
    // span given its start time ends at Date.now(), whole milliseconds, while a child's end may
    // carry a fraction of one: the comparison allows that millisecond.
    const MS = 1_000_000n;
    for (const span of [create, patch]) {
      const parent = parentOf(span) as CollectedSpan;
      assert.ok(BigInt(span.startTimeUnixNano) + MS >= BigInt(parent.startTimeUnixNano), span.name);
      assert.ok(BigInt(span.endTimeUnixNano) <= BigInt(parent.endTimeUnixNano) + MS, span.name);
    }
    // The node's own heartbeat is not traced.
    assert.ok(!mine.some((s) => s.name.includes('leases')), 'no lease spans');
  });

  test('an unreachable collector is a warning in the log; the pods run all the same', async () => {
    const closedPort = await freePort();
    const vk = await VirtualKubeletProcess.start(cluster, {
      args: ['--trace-exporter', 'otlp', '--trace-endpoint', `http://127.0.0.1:${closedPort}`],
    });
    try {
      await runPod(vk, 'unexported');
      const warning = new RegExp(
        `"level":40,.*"msg":"tracing: spans not exported to http://127.0.0.1:${closedPort}/v1/traces: connect ECONNREFUSED`,
      );
      await waitFor('the export failure in the log', () => warning.test(vk.log()), {
        timeoutMs: 30_000,
      });
      assert.doesNotMatch(vk.log(), /"level":50/, 'nothing logged as an error');
      assert.doesNotMatch(vk.log(), /tracing: .*"stack"/, 'no stack trace');
    } finally {
      await vk.destroy();
    }
  });

  test('without --trace-exporter the SDK is never loaded, and the trace flags alone only warn', async () => {
    const imports = recordImports();
    const vk = await VirtualKubeletProcess.start(cluster, {
      args: ['--trace-sample-rate', '50', '--trace-exporter', 'jaeger'],
      env: imports.env,
    });
    try {
      await runPod(vk, 'untraced');
      assert.match(
        vk.log(),
        /--trace-exporter jaeger \(an OpenCensus exporter of the Go virtual-kubelet\) is not available here/,
      );
      assert.match(vk.log(), /--trace-sample-rate without --trace-exporter otlp: tracing is off/);
    } finally {
      await vk.destroy();
    }
    // prom-client itself loads @opentelemetry/api (for the CPU metric's exemplars); the SDK is ours.
    const loaded = imports.loaded();
    assert.ok(loaded.length > 0, 'the recorder ran (prom-client loads @opentelemetry/api)');
    assert.deepEqual(
      loaded.filter((url) => !url.includes('/@opentelemetry/api/')),
      [],
    );
    assert.ok(!collector.spans().some((s) => s.resource['k8s.node.name'] === vk.nodeName));
  });
});
