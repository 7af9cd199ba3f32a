import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.js';
import type { WatchEvent, WatchOptions } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { KubeObject, ResourceType } from '../kube/resources.ts';
import { silentLogger } from '../log.ts';
import { createCertificate, createCertificateAuthority, generatePrivateKey, issueCertificate } from '../tls/x509.ts';
import type { KeyMaterial } from './serving-certificate.ts';
import { servingCertificateSigningRequest } from './serving-certificate-request.ts';
import { rotationDeadline, ServingCertificateRotation } from './serving-certificate-rotation.ts';
import {
  CURRENT_CERTIFICATE_FILE,
  certificateProblem,
  loadStoredPair,
  storePair,
} from './serving-certificate-store.ts';

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/**
 * The CSR API with a signer standing in for the controller-manager: `approve` or `deny` a request
 * as an administrator would, and an approved request is signed by the kubelet CA.
 */
class FakeCsrApi {
  readonly ca = createCertificateAuthority('test-kubelet-ca');
  readonly requests = new Map<string, CertificateSigningRequest>();
  readonly #watchers = new Set<(csr: CertificateSigningRequest) => void>();
  #count = 0;

  #update(csr: CertificateSigningRequest): void {
    this.requests.set(csr.metadata?.name ?? '', csr);
    for (const watcher of this.#watchers) watcher(structuredClone(csr));
  }

  approve(name: string): void {
    const csr = structuredClone(this.requests.get(name) as CertificateSigningRequest);
    const request = Buffer.from(csr.spec.request, 'base64').toString();
    const publicKey = createPublicKey(execFileSync('openssl', ['req', '-pubkey', '-noout'], { input: request }));
    const certificate = createCertificate({
      subject: { commonName: 'system:node:n', organizations: ['system:nodes'] },
      publicKey,
      issuer: this.ca,
      extendedKeyUsage: ['serverAuth'],
      altNames: ['127.0.0.1', 'n'],
    });
    csr.status = {
      conditions: [{ type: 'Approved', status: 'True', reason: 'Test' }],
      certificate: Buffer.from(certificate).toString('base64'),
    };
    this.#update(csr);
  }

  deny(name: string): void {
    const csr = structuredClone(this.requests.get(name) as CertificateSigningRequest);
    csr.status = { conditions: [{ type: 'Denied', status: 'True', reason: 'NotOurs', message: 'unknown node' }] };
    this.#update(csr);
  }

  readonly client = {
    create: async <T extends KubeObject>(_type: ResourceType<T>, object: T): Promise<T> => {
      const csr = structuredClone(object) as unknown as CertificateSigningRequest;
      csr.metadata = { ...csr.metadata, name: `csr-${++this.#count}` };
      this.#update(csr);
      return structuredClone(csr) as unknown as T;
    },
    watch: async function* <T extends KubeObject>(
      this: FakeCsrApi,
      _type: ResourceType<T>,
      options: WatchOptions = {},
    ): AsyncGenerator<WatchEvent<T>> {
      const name = options.fieldSelector?.replace('metadata.name=', '') ?? '';
      const queue: CertificateSigningRequest[] = [
        structuredClone(this.requests.get(name) as CertificateSigningRequest),
      ];
      let wake = () => {};
      const watcher = (csr: CertificateSigningRequest) => {
        if (csr.metadata?.name !== name) return;
        queue.push(csr);
        wake();
      };
      this.#watchers.add(watcher);
      options.signal?.addEventListener('abort', () => wake(), { once: true });
      try {
        while (!options.signal?.aborted) {
          const next = queue.shift();
          if (next) yield { type: 'MODIFIED', object: next as unknown as T };
          else await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        this.#watchers.delete(watcher);
      }
    },
  };
}

function fakeClient(api: FakeCsrApi) {
  return { create: api.client.create, watch: api.client.watch.bind(api) } as never;
}

async function until<T>(probe: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('renewal falls between 70 % and 90 % of the lifetime', () => {
  const notBefore = new Date('2026-01-01T00:00:00Z');
  const notAfter = new Date('2026-01-11T00:00:00Z'); // ten days
  assert.equal(rotationDeadline(notBefore, notAfter, () => 0).toISOString(), '2026-01-08T00:00:00.000Z');
  assert.equal(rotationDeadline(notBefore, notAfter, () => 0.5).toISOString(), '2026-01-09T00:00:00.000Z');
  const spread = Array.from({ length: 1000 }, () => rotationDeadline(notBefore, notAfter).getTime());
  assert.ok(spread.every((t) => t >= Date.parse('2026-01-08T00:00:00Z') && t < Date.parse('2026-01-10T00:00:00Z')));
  assert.ok(new Set(spread).size > 900, 'jittered');
});

test('the request is what the kubelet-serving signer accepts', { skip: !hasOpenssl && 'no openssl' }, () => {
  const ec = servingCertificateSigningRequest({
    nodeName: 'vk-1',
    names: ['10.1.2.3', 'vk-1', 'vk-1'],
    key: generatePrivateKey(),
  });
  assert.equal(ec.spec.signerName, 'kubernetes.io/kubelet-serving');
  assert.deepEqual(ec.spec.usages, ['digital signature', 'server auth']);
  assert.equal(ec.spec.expirationSeconds, undefined);
  const text = execFileSync('openssl', ['req', '-noout', '-text', '-verify'], {
    input: Buffer.from(ec.spec.request, 'base64'),
    stdio: 'pipe',
  }).toString();
  assert.match(text, /Subject: O = system:nodes, CN = system:node:vk-1/);
  assert.match(text, /IP Address:10\.1\.2\.3, DNS:vk-1\n/);
  const rsa = servingCertificateSigningRequest({
    nodeName: 'vk-1',
    names: ['vk-1'],
    key: generatePrivateKey('rsa'),
    expirationSeconds: 600,
  });
  assert.deepEqual(rsa.spec.usages, ['key encipherment', 'digital signature', 'server auth']);
  assert.equal(rsa.spec.expirationSeconds, 600);
});

test('a stored pair is reused only while valid for the node names; a damaged one is reported', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vk-cert-store-'));
  const ca = createCertificateAuthority('store-ca');
  const issued = issueCertificate(ca, { subject: { commonName: 'n' }, altNames: ['127.0.0.1', 'n'] });
  const pair: KeyMaterial = { cert: Buffer.from(issued.certificate), key: Buffer.from(issued.key) };
  storePair(dir, pair);
  const path = join(dir, CURRENT_CERTIFICATE_FILE);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const problems: string[] = [];
  const loaded = loadStoredPair(dir, (why) => problems.push(why));
  assert.ok(loaded?.cert.equals(pair.cert));
  assert.equal(certificateProblem(pair, ['127.0.0.1', 'n']), undefined);
  assert.match(certificateProblem(pair, ['10.9.9.9']) ?? '', /does not cover 10\.9\.9\.9/);
  const expired = issueCertificate(ca, {
    subject: { commonName: 'n' },
    altNames: ['n'],
    notBefore: new Date(Date.now() - 7200_000),
    notAfter: new Date(Date.now() - 3600_000),
  });
  assert.match(
    certificateProblem({ cert: Buffer.from(expired.certificate), key: Buffer.from(expired.key) }, ['n']) ?? '',
    /expired/,
  );

  const other = issueCertificate(ca, { subject: { commonName: 'n' }, altNames: ['n'] });
  writeFileSync(path, `${issued.certificate}${other.key}`);
  assert.equal(
    loadStoredPair(dir, (why) => problems.push(why)),
    undefined,
  );
  writeFileSync(path, 'garbage');
  assert.equal(
    loadStoredPair(dir, (why) => problems.push(why)),
    undefined,
  );
  assert.equal(problems.length, 2);
  assert.match(problems[0] ?? '', /does not belong to its certificate/);
  assert.match(problems[1] ?? '', /does not hold a certificate and a private key/);
  assert.equal(
    loadStoredPair(join(dir, 'absent'), (why) => problems.push(why)),
    undefined,
  );
  assert.equal(problems.length, 2, 'no file yet is not a problem');
});

test('self-signed until approved, then the issued pair; renewed with a new key; kept for a restart', {
  skip: !hasOpenssl && 'no openssl',
}, async () => {
  const api = new FakeCsrApi();
  const dir = mkdtempSync(join(tmpdir(), 'vk-cert-rotation-'));
  const served: KeyMaterial[] = [];
  const options = {
    client: fakeClient(api),
    nodeName: 'n',
    names: ['127.0.0.1', 'n'],
    directory: dir,
    renewAfterMs: 100,
    onCertificate: (pair: KeyMaterial) => served.push(pair),
    logger: silentLogger(),
  };
  const rotation = new ServingCertificateRotation(options);
  const fallback = new X509Certificate(rotation.current.cert);
  assert.equal(fallback.issuer, fallback.subject, 'self-signed meanwhile');
  assert.equal(rotation.isIssued, false);
  const stop = new AbortController();
  const running = rotation.run(stop.signal);
  try {
    await until(() => api.requests.get('csr-1'), 'the first request');
    api.approve('csr-1');
    await until(() => served[0], 'the issued pair');
    const first = new X509Certificate(served[0]?.cert ?? '');
    assert.ok(first.checkIssued(new X509Certificate(api.ca.certificate)));
    assert.equal(rotation.isIssued, true);
    assert.ok(readFileSync(join(dir, CURRENT_CERTIFICATE_FILE)).includes(served[0]?.cert ?? ''));

    // 100 ms later the renewal files a second request; the first pair is served until it is issued.
    await until(() => api.requests.get('csr-2'), 'the renewal request');
    assert.equal(rotation.current, served[0]);
    api.approve('csr-2');
    await until(() => served[1], 'the renewed pair');
    const second = new X509Certificate(served[1]?.cert ?? '');
    assert.ok(!second.publicKey.equals(first.publicKey), 'a new key');
    assert.equal(rotation.stats.issued, 2);
  } finally {
    stop.abort();
    await running;
  }
  const restarted = new ServingCertificateRotation({ ...options, renewAfterMs: 60_000 });
  assert.equal(restarted.isIssued, true);
  assert.ok(restarted.current.cert.equals(served[1]?.cert ?? Buffer.alloc(0)));
  const moved = new ServingCertificateRotation({ ...options, names: ['10.0.0.9', 'n'] });
  assert.equal(moved.isIssued, false, 'a certificate that does not cover the new address is not reused');
});

test('a denied request is retried with backoff and reported as a Warning on the Node', {
  skip: !hasOpenssl && 'no openssl',
}, async () => {
  const api = new FakeCsrApi();
  const events: string[] = [];
  const recorder: EventRecorder = {
    record: (object, type, reason, message) =>
      events.push(`${object.kind}/${object.metadata?.name} ${type} ${reason}: ${message}`),
  };
  const rotation = new ServingCertificateRotation({
    client: fakeClient(api),
    nodeName: 'n',
    names: ['n'],
    onCertificate: () => {},
    events: recorder,
    logger: silentLogger(),
  });
  const stop = new AbortController();
  const running = rotation.run(stop.signal);
  try {
    await until(() => api.requests.get('csr-1'), 'the request');
    assert.match(events[0] ?? '', /^Node\/n Normal ServingCertificatePending: .*kubectl certificate approve csr-1$/);
    const denied = Date.now();
    api.deny('csr-1');
    await until(() => (rotation.stats.failures === 1 ? true : undefined), 'the failure');
    assert.match(
      events[1] ?? '',
      /^Node\/n Warning ServingCertificateFailed: .*csr-1 was denied: NotOurs \(unknown node\); retrying in 2s/,
    );
    await until(() => api.requests.get('csr-2'), 'the retry', 5000);
    assert.ok(Date.now() - denied >= 1900, 'after the backoff');
    assert.equal(rotation.isIssued, false);
  } finally {
    stop.abort();
    await running;
  }
});
