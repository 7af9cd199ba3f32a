/**
 * A node started without certificate files gets its serving certificate through the CSR API, as
 * a kubelet with `serverTLSBootstrap` does, on a cluster whose API server verifies kubelets
 * (`--kubelet-certificate-authority`): until an administrator approves the request, kubectl logs
 * is refused; once approved, logs, exec and port-forward work. A short-lived certificate (the
 * renewal point made small with the hidden `--serving-certificate-renew-after`) is renewed and
 * goes live without a restart while an exec session stays open; a restart reuses the certificate
 * kept in `--cert-dir` without a new request. The credentials are deploy/rbac.yaml's.
 */
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { CertificateSigningRequests, Leases, Pods } from '../../src/kube/resources.ts';
import { leaderLeaseName } from '../../src/virtual-node.ts';
import { readCA } from '../../tools/kube/pki.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

let cluster: TestCluster;
let namespace: string;
let vk: VirtualKubeletProcess;
const approved: string[] = [];
const certDir = mkdtempSync(join(tmpdir(), 'vk-cert-dir-'));

before(async () => {
  cluster = await testCluster();
  namespace = await cluster.createNamespace('csr');
  vk = await VirtualKubeletProcess.start(cluster, {
    servingCertificate: false,
    // The API's shortest lifetime (10 minutes), renewed 3 s after it arrives.
    args: ['--cert-dir', certDir, '--serving-certificate-duration', '10m', '--serving-certificate-renew-after', '3s'],
  });
  await cluster.client.create(Pods, {
    metadata: { name: 'app', namespace },
    spec: { nodeName: vk.nodeName, containers: [{ name: 'main', image: 'registry.local/main:1', stdin: true }] },
  });
  await waitFor(
    'Running',
    async () => (await cluster.client.get<Pod>(Pods, { namespace, name: 'app' })).status?.phase === 'Running',
  );
});

after(async () => {
  await vk?.destroy();
  await cluster?.deleteNamespace(namespace);
  if (vk) await deleteRequests(vk.nodeName);
});

function presentedCertificate(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const certificate = socket.getPeerX509Certificate();
      socket.destroy();
      if (certificate) resolve(certificate);
      else reject(new Error('no certificate'));
    });
    socket.on('error', reject);
  });
}

function nodeRequests(nodeName = vk.nodeName): Promise<CertificateSigningRequest[]> {
  return cluster.client
    .list<CertificateSigningRequest>(CertificateSigningRequests, {
      labelSelector: `virtual-kubelet.io/node=${nodeName}`,
    })
    .then((list) => list.items);
}

async function deleteRequests(nodeName: string): Promise<void> {
  for (const csr of await nodeRequests(nodeName).catch(() => [])) {
    await cluster.client.delete(CertificateSigningRequests, { name: csr.metadata?.name ?? '' }).catch(() => {});
  }
}

const kubeletCA = () => new X509Certificate(readCA(cluster.info.pkiDir, 'kubelet-ca').certificate);

test('the node files a kubelet-serving request and, until it is approved, the API server refuses the self-signed certificate', async () => {
  const pending = await waitFor('the request', async () => (await nodeRequests())[0]);
  assert.equal(pending.spec.signerName, 'kubernetes.io/kubelet-serving');
  assert.deepEqual(pending.spec.usages, ['digital signature', 'server auth']);
  assert.equal(pending.spec.expirationSeconds, 600);
  assert.equal(pending.spec.username, 'system:serviceaccount:kube-system:virtual-kubelet');
  assert.equal(pending.status?.conditions, undefined);
  // The exact command for an administrator, in the log and as an event on the Node.
  assert.match(vk.log(), new RegExp(`kubectl certificate approve ${pending.metadata?.name}`));
  const events = await cluster.kubectl([
    'get',
    'events',
    '-A',
    '--field-selector',
    `involvedObject.name=${vk.nodeName},reason=ServingCertificatePending`,
    '-o',
    'name',
  ]);
  assert.ok(events.stdout.trim(), `no ServingCertificatePending event: ${events.stderr}`);

  const selfSigned = await presentedCertificate(vk.kubeletPort);
  assert.equal(selfSigned.issuer, selfSigned.subject);
  assert.equal(await vk.metric('virtual_kubelet_serving_certificate_issued'), 0);
  const logs = await cluster.kubectl(['-n', namespace, 'logs', 'app']);
  assert.notEqual(logs.code, 0);
  assert.match(logs.stderr, /x509: certificate signed by unknown authority/);
});

test('once an administrator approves it, the issued certificate is served and logs, exec and port-forward work', async () => {
  approved.push(await vk.approveServingCertificate());
  const served = await presentedCertificate(vk.kubeletPort);
  assert.deepEqual(served.subject.split('\n').sort(), [`CN=system:node:${vk.nodeName}`, 'O=system:nodes']);
  assert.ok(served.checkIssued(kubeletCA()), `issued by ${served.issuer}`);
  assert.equal(served.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(served.checkHost(vk.nodeName), vk.nodeName);
  assert.equal(await vk.metric('virtual_kubelet_serving_certificate_issued'), 1);
  const ttl = await vk.metric('virtual_kubelet_certificate_manager_server_ttl_seconds');
  assert.ok(ttl > 500 && ttl <= 600, `ttl ${ttl} s`);

  const logs = await cluster.kubectl(['-n', namespace, 'logs', 'app']);
  assert.equal(logs.code, 0, logs.stderr);
  const exec = await cluster.kubectl(['-n', namespace, 'exec', 'app', '--', 'echo', 'issued']);
  assert.equal(exec.code, 0, exec.stderr);
  assert.equal(exec.stdout, 'issued\n');

  const forward = cluster.kubectlProcess(['-n', namespace, 'port-forward', 'pod/app', ':8080']);
  try {
    const port = Number(
      await waitFor('the local port', () => /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(forward.stdout)?.[1]),
    );
    const payload = randomBytes(64 * 1024);
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = connectTcp(port, '127.0.0.1', () => socket.end(payload));
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('end', () => resolve(Buffer.concat(chunks)));
      socket.on('error', reject);
    });
    assert.ok(echoed.equals(payload), `${echoed.length} bytes back`);
  } finally {
    forward.stop();
  }
});

test('the certificate is renewed and swapped in live while an exec session stays open', async () => {
  const before = await presentedCertificate(vk.kubeletPort);
  const session = cluster.kubectlProcess(['-n', namespace, 'exec', '-i', 'app', '--', 'cat']);
  try {
    session.write('before renewal\n');
    await waitFor('the echo before the renewal', () => session.stdout.includes('before renewal\n'));

    // The renewal's request waits for approval too; the old certificate is served meanwhile.
    approved.push(await vk.approveServingCertificate(approved));
    const renewed = await presentedCertificate(vk.kubeletPort);
    assert.notEqual(renewed.serialNumber, before.serialNumber);
    assert.ok(!renewed.publicKey.equals(before.publicKey), 'a new key');
    assert.ok(renewed.checkIssued(kubeletCA()));
    assert.match(vk.log(), /renewed the serving certificate/);

    // The session opened under the old certificate still works.
    session.write('after renewal\n');
    await waitFor('the echo after the renewal', () => session.stdout.includes('after renewal\n'));
    assert.ok(session.running, session.stderr);
  } finally {
    session.stop();
  }
  const logs = await cluster.kubectl(['-n', namespace, 'logs', 'app']);
  assert.equal(logs.code, 0, logs.stderr);
});

test('a restart reuses the certificate kept in --cert-dir: no new request, served at once', async () => {
  const before = await presentedCertificate(vk.kubeletPort);
  const exit = await vk.stop('SIGTERM');
  assert.equal(exit.code, 0);
  const requests = (await nodeRequests()).length;
  // Without the short renewal point: the kept certificate is minutes from its renewal.
  vk = await VirtualKubeletProcess.start(cluster, {
    nodeName: vk.nodeName,
    workDir: vk.workDir,
    servingCertificate: false,
    args: ['--cert-dir', certDir, '--serving-certificate-duration', '10m'],
  });
  const served = await presentedCertificate(vk.kubeletPort);
  assert.equal(served.serialNumber, before.serialNumber);
  assert.match(vk.log(), /serving the certificate kept in/);
  const logs = await cluster.kubectl(['-n', namespace, 'logs', 'app']);
  assert.equal(logs.code, 0, logs.stderr);
  assert.equal((await nodeRequests()).length, requests);
});

test('--self-approve-serving-certificate approves the node’s own request only with the opt-in RBAC', async () => {
  const optIn = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'rbac-self-approval.yaml');
  const args = ['--self-approve-serving-certificate', '--serving-certificate-duration', '10m'];
  // deploy/rbac.yaml alone does not allow it: the request waits for an administrator.
  const denied = await VirtualKubeletProcess.start(cluster, { servingCertificate: false, args });
  try {
    await waitFor('the refused approval', () =>
      /could not approve our own certificate signing request/.test(denied.log()),
    );
    assert.match(denied.log(), /kubectl certificate approve csr-/);
    assert.doesNotMatch(denied.log(), /cluster-issued/);
  } finally {
    await denied.destroy();
    await deleteRequests(denied.nodeName);
  }
  const applied = await cluster.kubectl(['apply', '-f', optIn]);
  assert.equal(applied.code, 0, applied.stderr);
  try {
    await waitFor('the approval right', async () => {
      const canI = await cluster.kubectl([
        'auth',
        'can-i',
        'update',
        'certificatesigningrequests.certificates.k8s.io',
        '--subresource=approval',
        '--as=system:serviceaccount:kube-system:virtual-kubelet',
      ]);
      return canI.stdout.trim() === 'yes';
    });
    const approving = await VirtualKubeletProcess.start(cluster, { servingCertificate: false, args });
    try {
      await waitFor('the self-issued certificate', () => /now serving the cluster-issued/.test(approving.log()));
      assert.match(approving.log(), /approved our own certificate signing request/);
      const served = await presentedCertificate(approving.kubeletPort);
      assert.ok(served.checkIssued(kubeletCA()));
    } finally {
      await approving.destroy();
      await deleteRequests(approving.nodeName);
    }
  } finally {
    await cluster.kubectl(['delete', '-f', optIn]);
  }
});

test('with --leader-elect a standby gets its certificate while it waits: after a failover the new leader is trusted at once', async () => {
  const nodeName = `vk-csr-ha-${randomBytes(3).toString('hex')}`;
  const workDir = mkdtempSync(join(tmpdir(), `${nodeName}-`));
  const args = [
    '--leader-elect',
    '--leader-elect-lease-duration',
    '4s',
    '--leader-elect-renew-deadline',
    '3s',
    '--leader-elect-retry-period',
    '1s',
  ];
  const options = { nodeName, workDir, servingCertificate: false, args };
  const a = await VirtualKubeletProcess.start(cluster, { ...options, replica: 'a' });
  const b = await VirtualKubeletProcess.start(cluster, { ...options, replica: 'b', waitReady: false });
  try {
    await a.approveServingCertificate();
    await waitFor('b to stand by', () => /standing by/.test(b.log()));
    await b.approveServingCertificate();
    await cluster.client.create(Pods, {
      metadata: { name: 'ha', namespace },
      spec: { nodeName, containers: [{ name: 'main', image: 'registry.local/main:1' }] },
    });
    await waitFor(
      'Running',
      async () => (await cluster.client.get<Pod>(Pods, { namespace, name: 'ha' })).status?.phase === 'Running',
    );
    const requests = (await nodeRequests(nodeName)).length;
    assert.equal(requests, 2);
    assert.equal((await a.stop('SIGTERM')).code, 0);
    await b.waitReady();
    const served = await presentedCertificate(b.kubeletPort);
    assert.ok(served.checkIssued(kubeletCA()), 'the new leader serves its issued certificate');
    const logs = await cluster.kubectl(['-n', namespace, 'logs', 'ha']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal((await nodeRequests(nodeName)).length, requests, 'no request after the failover');
  } finally {
    await a.destroy();
    await b.destroy();
    await deleteRequests(nodeName);
    await cluster.client
      .delete(Leases, { namespace: 'kube-system', name: leaderLeaseName(nodeName) })
      .catch(() => undefined);
  }
});
