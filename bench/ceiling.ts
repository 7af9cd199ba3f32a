/**
 * The ceiling: the least a virtual kubelet must do through the API, done as fast as the API server
 * takes it. It registers a Node (and renews its Lease so the node stays schedulable), watches the
 * pods bound to it, and per pod sends exactly one write: a status PATCH that makes it Running and
 * Ready; a pod being deleted gets one DELETE with grace 0. No rate limit, no events, no provider,
 * no queue: what it reaches is what the API server itself can take on this machine.
 *
 * Run as its own process (so its CPU and memory are measured like the others'):
 * `node bench/ceiling.ts --kubeconfig FILE --node NAME [--counts-port PORT]`; SIGTERM stops it.
 * With `--counts-port` it answers `GET /` on 127.0.0.1 with the requests it sent (bench/measurement.ts's
 * `OwnRequests`), so the benchmark counts its writes, not every client's.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { loadKubeConfig } from '../src/kube/kubeconfig.ts';
import { ApiClient } from './api.ts';
import { NODE_CAPACITY } from './baselines.ts';

/** The status the ceiling writes: what a mock provider's pod looks like once it runs. */
export function runningStatusPatch(pod: Pod, now: string): unknown {
  return {
    status: {
      phase: 'Running',
      hostIP: '1.2.3.4',
      podIP: '5.6.7.8',
      podIPs: [{ ip: '5.6.7.8' }],
      startTime: now,
      conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({
        type,
        status: 'True',
        lastTransitionTime: now,
      })),
      containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: now } },
      })),
    },
  };
}

/** Runs the ceiling kubelet until the signal aborts. */
export async function runCeiling(client: ApiClient, nodeName: string, signal: AbortSignal): Promise<void> {
  const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await client.call('POST', '/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: nodeName, labels: { type: 'virtual-kubelet', 'kubernetes.io/hostname': nodeName } },
    spec: { taints: [{ key: 'virtual-kubelet.io/provider', value: 'ceiling', effect: 'NoSchedule' }] },
    status: {
      capacity: NODE_CAPACITY,
      allocatable: NODE_CAPACITY,
      conditions: [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ceiling', lastHeartbeatTime: now() },
      ],
      addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
      nodeInfo: { operatingSystem: 'linux', architecture: 'amd64', kubeletVersion: 'v1.37.2-ceiling' },
    },
  });
  // Without heartbeats the node-lifecycle controller taints the node unreachable after 40 s,
  // and the scheduler stops placing pods on it.
  const lease = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${nodeName}`;
  const renew = async () => {
    const renewTime = new Date().toISOString().replace('Z', '000Z');
    const spec = { holderIdentity: nodeName, leaseDurationSeconds: 40, renewTime };
    const got = await client.send<{ metadata: { resourceVersion: string } }>('GET', lease);
    if (got.status === 404) {
      await client.send('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: nodeName, namespace: 'kube-node-lease' },
        spec,
      });
    } else if (got.status === 200) {
      await client.send('PATCH', lease, { spec }, 'application/merge-patch+json');
    }
  };
  await renew();
  const renewer = setInterval(() => void renew().catch(() => {}), 10_000);

  const started = new Set<string>();
  const deleted = new Set<string>();
  // The API server's priority and fairness answers 429 when too many requests are in flight, and
  // a watch brings no second event for a pod nobody changes: a write must be retried, as any
  // virtual kubelet retries it.
  const write = async (method: string, path: string, body: unknown, contentType?: string): Promise<number> => {
    for (let attempt = 1; ; attempt++) {
      const response = await client.send(method, path, body, contentType).catch(() => undefined);
      const status = response?.status ?? 0;
      if ((status !== 0 && status !== 429 && status < 500) || attempt >= 20 || signal.aborted) return status;
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * 2 ** attempt)));
    }
  };
  const onPod = (pod: Pod) => {
    const uid = pod.metadata?.uid ?? '';
    const path = `/api/v1/namespaces/${pod.metadata?.namespace}/pods/${pod.metadata?.name}`;
    if (pod.metadata?.deletionTimestamp) {
      if (deleted.has(uid)) return;
      deleted.add(uid);
      started.delete(uid);
      void write('DELETE', path, {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        gracePeriodSeconds: 0,
        preconditions: { uid },
      });
      return;
    }
    if (started.has(uid) || pod.status?.phase === 'Running') return;
    started.add(uid);
    void write('PATCH', `${path}/status`, runningStatusPatch(pod, now()), 'application/merge-patch+json').then(
      (status) => {
        if (status >= 300 && status !== 404) started.delete(uid);
      },
    );
  };
  try {
    while (!signal.aborted) {
      await client
        .watch<Pod>(
          `/api/v1/pods?fieldSelector=spec.nodeName%3D${nodeName}`,
          (event) => {
            if (event.type === 'ADDED' || event.type === 'MODIFIED') onPod(event.object);
            if (event.type === 'DELETED') started.delete(event.object.metadata?.uid ?? '');
          },
          signal,
        )
        .catch((error: unknown) => {
          if (!signal.aborted) process.stderr.write(`ceiling: watch failed: ${String(error)}\n`);
        });
      // A watch that ended is resumed from scratch: its initial ADDED events are the pods to catch up on.
      if (!signal.aborted) await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    clearInterval(renewer);
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { kubeconfig: { type: 'string' }, node: { type: 'string' }, 'counts-port': { type: 'string' } },
  });
  if (!values.kubeconfig || !values.node) {
    process.stderr.write('usage: node bench/ceiling.ts --kubeconfig FILE --node NAME [--counts-port PORT]\n');
    process.exit(2);
  }
  const client = new ApiClient(loadKubeConfig({ path: values.kubeconfig }), { maxSockets: 256 });
  const counts = values['counts-port']
    ? createServer((_request, response) => {
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify({ answers: Object.fromEntries(client.answers), pending: client.inFlight }));
      }).listen(Number(values['counts-port']), '127.0.0.1')
    : undefined;
  const controller = new AbortController();
  process.once('SIGTERM', () => controller.abort());
  process.once('SIGINT', () => controller.abort());
  runCeiling(client, values.node, controller.signal)
    .then(() => {
      client.close();
      counts?.close();
      process.exit(0);
    })
    .catch((error: unknown) => {
      process.stderr.write(`ceiling: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}
