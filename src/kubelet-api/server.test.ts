import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { createCertificateAuthority, issueCertificate } from '../tls/x509.ts';
import { Authenticator } from './auth/authenticator.ts';
import { KubeletServer } from './server.ts';
import { selfSignedKeyPair } from './serving-certificate.ts';

const ca = createCertificateAuthority('test-client-ca');
const client = issueCertificate(ca, { subject: { commonName: 'admin' }, extendedKeyUsage: ['clientAuth'] });
let server: KubeletServer;
let port: number;
/** What both the API's pods (`/pods`) and the provider's (`/runningpods/`) are. */
let pods: Pod[] = [];

before(async () => {
  server = new KubeletServer({
    nodeName: 'n',
    provider: {
      createPod: async () => {},
      updatePod: async () => {},
      deletePod: async () => {},
      getPod: async () => undefined,
      getPodStatus: async () => undefined,
      getPods: async () => pods,
    },
    getPod: () => undefined,
    listPods: () => pods,
    keyPair: selfSignedKeyPair('n', ['127.0.0.1']),
    clientCA: Buffer.from(ca.certificate),
    authenticator: new Authenticator({}),
  });
  port = await server.listen(0, '127.0.0.1');
});

after(() => server.close());

function get(path: string, withCertificate: boolean, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        rejectUnauthorized: false,
        agent: false,
        ...(withCertificate ? { cert: client.certificate, key: client.key } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Reads a refused upgrade's status line from the raw answer. */
function upgrade(path: string, withCertificate: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      rejectUnauthorized: false,
      agent: false,
      headers: { connection: 'Upgrade', upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'v4.channel.k8s.io' },
      ...(withCertificate ? { cert: client.certificate, key: client.key } : {}),
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test('without credentials every path answers 401, known or not, so routes cannot be probed', async () => {
  for (const path of ['/configz', '/debug/pprof/', '/no/such/route', '/healthz', '/pods', '/%zz', '/exec/a/b/c']) {
    const answer = await get(path, false);
    assert.equal(answer.status, 401, path);
    assert.equal(answer.body, 'Unauthorized: no client certificate or bearer token\n', path);
  }
  assert.equal((await get('/configz', false, 'DELETE')).status, 401);
  assert.equal(await upgrade('/exec/ns/pod/c?command=ls', false), 401);
  assert.equal(await upgrade('/debug/pprof/', false), 401);
});

test('an authenticated caller learns which paths exist', async () => {
  assert.deepEqual(await get('/healthz', true), { status: 200, body: 'ok' });
  assert.equal((await get('/configz', true)).status, 404);
  assert.equal((await get('/%zz', true)).status, 400);
  // The path as sent: not read as a host, not folded.
  assert.equal((await get('//', true)).status, 404);
  assert.equal((await get('/healthz/../pods', true)).status, 404);
  assert.deepEqual(await get('//healthz', true), { status: 200, body: 'ok' });
  assert.equal(await upgrade('/debug/pprof/', true), 404);
  assert.equal(await upgrade('/exec/ns/pod/c?command=ls', true), 404);
});

test('/pods and /runningpods/ are whole PodLists, however many pods (written a few at a time)', async () => {
  for (const count of [0, 1, 3000]) {
    pods = Array.from({ length: count }, (_, i) => ({
      metadata: { namespace: 'ns', name: `pod-${i}`, labels: { app: 'ünïcødé', index: String(i) } },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    }));
    for (const path of ['/pods', '/runningpods/']) {
      const answer = await get(path, true);
      assert.equal(answer.status, 200, path);
      const list = JSON.parse(answer.body) as { kind: string; apiVersion: string; items: Pod[] };
      assert.equal(list.kind, 'PodList');
      assert.equal(list.apiVersion, 'v1');
      assert.deepEqual(list.items, pods, `${path} with ${count} pods`);
    }
  }
  pods = [];
});
