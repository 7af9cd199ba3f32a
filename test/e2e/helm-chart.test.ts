/**
 * The Helm chart (deploy/chart) with a real Helm built from its Go module (tools/helm) and the
 * real control plane: `helm lint`; `helm template … | kubectl apply --dry-run=server -f -` for the
 * default values and each mode; the chart's RBAC equal to deploy/rbac.yaml's; and a node registered
 * and running a pod with nothing but the chart's ServiceAccount, RBAC and leader-election flags.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { PolicyRule } from 'kubernetes-types/rbac/v1.js';
import { parseAllDocuments } from 'yaml';
import { kubeconfigDocument } from '../../src/kube/kubeconfig.ts';
import { Pods } from '../../src/kube/resources.ts';
import { ensureHelm } from '../../tools/helm/binary.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHART = join(REPO, 'deploy', 'chart');

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

function objects(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as KubeObject | null)
    .filter((object): object is KubeObject => object !== null);
}

function find(list: KubeObject[], kind: string, name: string): KubeObject {
  const object = list.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(object, `no ${kind} ${name} in ${list.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return object;
}

describe('helm chart', () => {
  let cluster: TestCluster;
  let helm: string;
  let namespace: string;
  const release = `vk${randomBytes(2).toString('hex')}`;
  const fullname = `virtual-kubelet-${release}`;
  const clusterScoped: string[] = [];

  const run = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolveRun) => {
      execFile(helm, args, { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 }, (error, stdout, stderr) => {
        resolveRun({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      });
    });

  async function template(values: string[] = [], extra: string[] = []): Promise<string> {
    const args = ['template', release, CHART, '--namespace', namespace, ...extra];
    for (const value of values) args.push('--set', value);
    const result = await run(args);
    assert.equal(result.code, 0, `helm ${args.join(' ')}:\n${result.stderr}`);
    return result.stdout;
  }

  async function dryRunServer(manifest: string): Promise<void> {
    const applied = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: manifest });
    assert.equal(applied.code, 0, `kubectl apply --dry-run=server:\n${applied.stderr}\n${manifest}`);
  }

  before(
    async () => {
      cluster = await testCluster();
      namespace = await cluster.createNamespace('chart');
      helm = (await ensureHelm((line) => process.stderr.write(`helm: ${line}\n`))).path;
    },
    // The first run builds Helm (about 2 minutes of CPU on 2 cores, more when the machine is loaded).
    { timeout: 30 * 60_000 },
  );

  after(async () => {
    for (const name of clusterScoped) await cluster.kubectl(['delete', '--ignore-not-found', name]);
    await cluster?.deleteNamespace(namespace);
  });

  test('the chart is at the package version', () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    const chart = readFileSync(join(CHART, 'Chart.yaml'), 'utf8');
    assert.match(chart, new RegExp(`^version: ${pkg.version.replaceAll('.', '\\.')}$`, 'm'));
    assert.match(chart, new RegExp(`^appVersion: "${pkg.version.replaceAll('.', '\\.')}"$`, 'm'));
  });

  test('helm lint passes with the defaults and with every mode', async () => {
    for (const values of [
      [],
      ['replicas=3', 'servingCertificate.selfApprove=true', 'metrics.serviceMonitor.enabled=true'],
      ['servingCertificate.mode=secret', 'servingCertificate.secretName=vk-tls', 'provider.config.pods=50'],
      ['servingCertificate.mode=selfSigned', 'provider.existingSecret=vk-provider'],
    ]) {
      const args = ['lint', '--strict', CHART, ...values.flatMap((v) => ['--set', v])];
      const result = await run(args);
      assert.equal(result.code, 0, `helm ${args.join(' ')}:\n${result.stdout}${result.stderr}`);
      assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  test('the default rendering passes the API server (dry run) and is locked down', async () => {
    const manifest = await template(['image.tag=0.1.0']);
    await dryRunServer(manifest);
    const list = objects(manifest);
    const deployment = find(list, 'Deployment', fullname) as unknown as Deployment;
    assert.equal(deployment.spec?.replicas, 1);
    assert.equal(deployment.spec?.strategy?.type, 'Recreate');
    const pod = deployment.spec?.template.spec;
    const container = pod?.containers[0];
    assert.equal(container?.image, 'localhost/virtual-kubelet:0.1.0');
    assert.ok(!container?.args?.includes('--leader-elect'), 'one replica runs without leader election');
    assert.ok(container?.args?.includes('--cert-dir=/var/lib/virtual-kubelet/pki'), 'CSR mode keeps its certificate');
    const podIP = container?.env?.find((e) => e.name === 'VKUBELET_POD_IP');
    assert.equal(podIP?.valueFrom?.fieldRef?.fieldPath, 'status.podIP');
    assert.equal(container?.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(container?.readinessProbe?.httpGet?.path, '/healthz');
    assert.equal(container?.livenessProbe?.httpGet?.port, 'healthz');
    assert.ok(container?.ports?.some((p) => p.name === 'metrics' && p.containerPort === 10255));
    assert.ok(container?.resources?.requests?.cpu && container.resources.limits?.memory);
    assert.equal(pod?.securityContext?.runAsNonRoot, true);
    assert.equal(container?.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(container?.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(container?.securityContext?.capabilities?.drop, ['ALL']);
    assert.equal(pod?.serviceAccountName, fullname);
    // No leader-election Role, approver or ServiceMonitor unless asked for.
    assert.deepEqual(
      list.map((o) => o.kind).sort(),
      ['ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding', 'Deployment', 'Service', 'ServiceAccount'].sort(),
    );
  });

  test('the RBAC is the one of deploy/rbac.yaml and deploy/rbac-self-approval.yaml', async () => {
    const source = objects(readFileSync(join(REPO, 'deploy', 'rbac.yaml'), 'utf8'));
    const approval = objects(readFileSync(join(REPO, 'deploy', 'rbac-self-approval.yaml'), 'utf8'));
    const list = objects(await template(['replicas=2', 'servingCertificate.selfApprove=true']));
    assert.deepEqual(find(list, 'ClusterRole', fullname).rules, find(source, 'ClusterRole', 'virtual-kubelet').rules);
    assert.deepEqual(
      find(list, 'Role', `${fullname}-leader-election`).rules,
      find(source, 'Role', 'virtual-kubelet-leader-election').rules,
    );
    assert.deepEqual(
      find(list, 'ClusterRole', `${fullname}-serving-certificate-approver`).rules,
      find(approval, 'ClusterRole', 'virtual-kubelet-serving-certificate-approver').rules,
    );
    assert.equal(
      find(list, 'ClusterRoleBinding', `${fullname}-auth-delegator`).roleRef?.name,
      find(source, 'ClusterRoleBinding', 'virtual-kubelet-auth-delegator').roleRef?.name,
    );
    for (const binding of list.filter((o) => o.kind.endsWith('Binding'))) {
      assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: fullname, namespace }]);
    }
  });

  test('every mode passes the API server (dry run)', async () => {
    // The ServiceMonitor's kind, as prometheus-operator defines it (its schema left open here).
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'servicemonitors.monitoring.coreos.com' },
      spec: {
        group: 'monitoring.coreos.com',
        scope: 'Namespaced',
        names: {
          plural: 'servicemonitors',
          singular: 'servicemonitor',
          kind: 'ServiceMonitor',
          listKind: 'ServiceMonitorList',
        },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    };
    const existed = (await cluster.kubectl(['get', 'crd', crd.metadata.name])).code === 0;
    if (!existed) {
      const created = await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify(crd) });
      assert.equal(created.code, 0, created.stderr);
      clusterScoped.push(`crd/${crd.metadata.name}`);
      await waitFor('the ServiceMonitor CRD established', async () => {
        const got = await cluster.kubectl(['get', 'crd', crd.metadata.name, '-o', 'jsonpath={.status.conditions}']);
        return /"Established","status":"True"|"status":"True","type":"Established"/.test(got.stdout) || undefined;
      });
    }
    const modes: string[][] = [
      ['replicas=3', 'servingCertificate.selfApprove=true', 'metrics.serviceMonitor.enabled=true'],
      ['servingCertificate.mode=secret', 'servingCertificate.secretName=vk-tls', 'provider.config.pods=50'],
      ['servingCertificate.mode=selfSigned', 'provider.config.pods=50', 'provider.configInSecret=true'],
      ['tracing.enabled=true', 'tracing.endpoint=http://otel-collector.monitoring:4318', 'tracing.sampleRate=10'],
      ['provider.existingSecret=vk-provider', 'serviceAccount.create=false', 'serviceAccount.name=default'],
    ];
    for (const values of modes) {
      const manifest = await template(values);
      await dryRunServer(manifest);
      const deployment = find(objects(manifest), 'Deployment', fullname) as unknown as Deployment;
      const args = deployment.spec?.template.spec?.containers[0]?.args ?? [];
      if (values.includes('replicas=3')) {
        assert.ok(args.includes('--leader-elect'), 'three replicas elect a leader');
        assert.ok(args.includes(`--leader-elect-resource-namespace=${namespace}`));
        assert.equal(deployment.spec?.strategy?.type, 'RollingUpdate');
        assert.ok(args.includes('--self-approve-serving-certificate'));
      }
      if (values.includes('servingCertificate.mode=secret')) {
        assert.ok(args.includes('--tls-cert-file=/etc/virtual-kubelet/tls/tls.crt'));
        assert.ok(args.includes('--provider-config=/etc/virtual-kubelet/provider/provider.yaml'));
      }
      if (values.includes('servingCertificate.mode=selfSigned')) {
        assert.ok(args.includes('--rotate-server-certificates=false'));
      }
      if (values.includes('tracing.enabled=true')) {
        for (const flag of [
          '--trace-exporter=otlp',
          '--trace-sample-rate=10',
          '--trace-endpoint=http://otel-collector.monitoring:4318',
        ]) {
          assert.ok(args.includes(flag), flag);
        }
      }
    }
  });

  test('a wrong value fails with a message that says what to fix', async () => {
    for (const [value, message] of [
      ['servingCertificate.mode=acme', /servingCertificate.mode must be csr, secret or selfSigned, not "acme"/],
      ['servingCertificate.mode=secret', /servingCertificate.mode secret needs servingCertificate.secretName/],
      ['replicas=0', /replicas must be at least 1/],
    ] as const) {
      const result = await run(['template', release, CHART, '--set', value]);
      assert.notEqual(result.code, 0, value);
      assert.match(result.stderr, message);
    }
  });

  test("a node runs a pod with only the chart's ServiceAccount, RBAC and leader-election flags", async () => {
    const manifest = await template(['replicas=2']);
    const list = objects(manifest);
    // The Deployment's own pods would wait for a real node: apply everything else, for real.
    const applied = await cluster.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: list.filter((o) => o.kind !== 'Deployment') }),
    });
    assert.equal(applied.code, 0, applied.stderr);
    for (const o of list) if (!o.metadata.namespace) clusterScoped.push(`${o.kind.toLowerCase()}/${o.metadata.name}`);
    const token = await cluster.kubectl(['create', 'token', fullname, '-n', namespace, '--duration=1h']);
    assert.equal(token.code, 0, token.stderr);
    const dir = mkdtempSync(join(tmpdir(), 'vk-chart-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      kubeconfigDocument({
        name: fullname,
        server: cluster.info.server,
        caFile: join(cluster.info.pkiDir, 'ca.crt'),
        token: token.stdout.trim(),
      }),
    );
    const deployment = find(list, 'Deployment', fullname) as unknown as Deployment;
    const leaderFlags = (deployment.spec?.template.spec?.containers[0]?.args ?? []).filter((a) =>
      a.startsWith('--leader-elect'),
    );
    assert.ok(leaderFlags.length > 0);
    const vk = await VirtualKubeletProcess.start(cluster, {
      kubeconfig,
      args: leaderFlags,
      nodeName: `${release}-node`,
    });
    try {
      const podName = 'on-chart-node';
      const created = await cluster.kubectl(['-n', namespace, 'apply', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: podName },
          spec: {
            nodeName: vk.nodeName,
            tolerations: [{ key: 'virtual-kubelet.io/provider', operator: 'Exists' }],
            containers: [{ name: 'app', image: 'busybox' }],
          },
        }),
      });
      assert.equal(created.code, 0, created.stderr);
      await waitFor(`pod ${namespace}/${podName} Running`, async () => {
        const pod = await cluster.client.get<Pod>(Pods, { namespace, name: podName });
        return pod.status?.phase === 'Running' || undefined;
      });
      const lease = await cluster.kubectl(['-n', namespace, 'get', 'lease', `virtual-kubelet-${vk.nodeName}`]);
      assert.equal(lease.code, 0, `the leader Lease is in the release namespace: ${lease.stderr}`);
      assert.doesNotMatch(vk.log(), /forbidden/i);
    } finally {
      await vk.destroy();
    }
  });
});
