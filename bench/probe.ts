/**
 * A second client of the API server, to see what a burst does to everyone else: while it runs, an
 * ordinary ServiceAccount (not the admin, whom API Priority and Fairness exempts; not the virtual
 * kubelet's own identity) GETs one ConfigMap, one request at a time, every 50 ms. Its latency
 * percentiles say whether the implementation under test made the API server slower for others.
 */
import type { ClusterConnection } from '../src/kube/kubeconfig.ts';
import { ApiClient } from './api.ts';
import { type Percentiles, percentiles } from './measurement.ts';

const INTERVAL_MS = 50;

export interface ProbeResult {
  latencyMs: Percentiles;
  /** GETs the API server answered 429 (flow control) or not at all. */
  refused: number;
}

export interface LatencyProbe {
  /** Stops the loop and returns what it measured. */
  stop(): Promise<ProbeResult>;
}

/** Creates the probe's ServiceAccount, Role, RoleBinding and ConfigMap in `namespace` and starts GETting. */
export async function startLatencyProbe(admin: ApiClient, namespace: string): Promise<LatencyProbe> {
  const name = 'bench-probe';
  const base = `/api/v1/namespaces/${namespace}`;
  await admin.call('POST', `${base}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } });
  await admin.call('POST', `${base}/configmaps`, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name },
    data: { probe: 'x' },
  });
  const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
  await admin.call('POST', `${rbac}/roles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name },
    rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [name], verbs: ['get'] }],
  });
  await admin.call('POST', `${rbac}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace }],
  });
  const token = await admin.call<{ status: { token: string } }>('POST', `${base}/serviceaccounts/${name}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 3600 },
  });
  const connection: ClusterConnection = {
    server: admin.connection.server,
    ...(admin.connection.caData ? { caData: admin.connection.caData } : {}),
    ...(admin.connection.insecureSkipTLSVerify ? { insecureSkipTLSVerify: true } : {}),
    token: token.body.status.token,
    source: 'bench latency probe',
  };
  const client = new ApiClient(connection, { maxSockets: 1, counts: admin.counts });
  const path = `${base}/configmaps/${name}`;
  // The RoleBinding takes effect through the authorizer's informer: wait until the GET is allowed.
  for (let attempt = 0; ; attempt++) {
    const response = await client.send('GET', path);
    if (response.status === 200) break;
    if (attempt >= 100) throw new Error(`the latency probe cannot GET ${path}: HTTP ${response.status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const latencies: number[] = [];
  let refused = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      const status = await client.send('GET', path, undefined, 'application/json', 30_000).then(
        (r) => r.status,
        () => 0,
      );
      const elapsed = performance.now() - started;
      if (status === 200) latencies.push(elapsed);
      else refused++;
      if (running && elapsed < INTERVAL_MS) await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS - elapsed));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      client.close();
      return { latencyMs: percentiles(latencies), refused };
    },
  };
}
