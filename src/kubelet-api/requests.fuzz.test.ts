/**
 * What the kubelet API reads from a request — the path, the method, the query of logs, exec,
 * attach and port-forward — under generated input, and then whole requests against a live
 * server: every request gets an answer with the kubelet's status codes and a one-line body,
 * never a 500, never a crash.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:https';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { InvalidInputError } from '../errors.ts';
import { createCertificateAuthority, issueCertificate } from '../tls/x509.ts';
import { anyString, fc, fuzz, fuzzAsync, parsesOrRefuses } from '../util/fuzz-support.test.ts';
import { Authenticator } from './auth/authenticator.ts';
import { nodeRequestAttributes } from './auth/authorizer.ts';
import { parseLogOptions } from './logs.ts';
import { HttpError, matchRoute, requestTarget } from './routes.ts';
import { KubeletServer } from './server.ts';
import { selfSignedKeyPair } from './serving-certificate.ts';
import { parsePortForwardPorts } from './streaming/portforward/index.ts';
import { parseRemoteCommandQuery } from './streaming/remotecommand/index.ts';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const method = fc.oneof(fc.constantFrom(...METHODS), anyString(8));
const ROOTS = ['healthz', 'pods', 'runningpods', 'stats', 'metrics', 'containerLogs', 'exec', 'attach', 'portForward'];

/** A path segment as a client may write it: any text, %-encoded or raw, or a broken escape. */
const segment = fc.oneof(
  fc.constantFrom(...ROOTS, 'summary', 'resource', '', '.', '..'),
  anyString(12).map(encodeURIComponent),
  anyString(8),
  fc.constantFrom('%', '%z', '%e9', '%2F', '%00', '%C0%AF'),
);
const path = fc.array(segment, { maxLength: 6 }).map((parts) => `/${parts.join('/')}`);

test('fuzz: any path and method is a route, a 400 or a 404', (t) => {
  fuzz(t, 'kubelet API matchRoute', fc.tuple(method, fc.oneof(path, anyString(40))), ([m, p]) => {
    const result = parsesOrRefuses(() => matchRoute(m, p), HttpError);
    if ('error' in result) assert.ok([400, 404].includes((result.error as HttpError).status));
    const attributes = nodeRequestAttributes(m, p);
    assert.ok(attributes.verb.length > 0 || m.length === 0);
    assert.ok(attributes.subresources.length > 0);
  });
});

test('fuzz: any request target splits into a path and a query, or is a 400', (t) => {
  const target = fc.oneof(
    fc.tuple(fc.oneof(path, anyString(30)), fc.option(anyString(20))).map(([p, q]) => (q === null ? p : `${p}?${q}`)),
    anyString(30).map((rest) => `https://${rest}`),
    fc.constantFrom('//', '///', '//host/pods', '/a/../pods', '\\pods', '?', '#x', 'http://[::1', 'https://x/%zz?a=%'),
  );
  fuzz(t, 'kubelet API requestTarget', target, (raw) => {
    const result = parsesOrRefuses(() => requestTarget(raw), HttpError);
    if ('error' in result) return;
    const { pathname, searchParams } = result.value;
    assert.ok(pathname.length > 0);
    // Not folded, not re-rooted: the path routed is the path sent.
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) assert.ok(raw.startsWith(pathname) || pathname === '/');
    assert.ok(searchParams instanceof URLSearchParams);
  });
});

test('fuzz: the pod, container and uid of a route are the path segments, decoded', (t) => {
  const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 });
  const routes = fc.tuple(
    fc.constantFrom('containerLogs', 'exec', 'attach', 'portForward'),
    fc.array(name, { minLength: 2, maxLength: 4 }),
  );
  fuzz(t, 'kubelet API route segments', routes, ([root, names]) => {
    const result = parsesOrRefuses(
      () => matchRoute('GET', `/${[root, ...names.map(encodeURIComponent)].join('/')}`),
      HttpError,
    );
    if ('error' in result) {
      // Only the segment counts a route does not take.
      const counts: Record<string, number[]> = {
        containerLogs: [3],
        exec: [3, 4],
        attach: [3, 4],
        portForward: [2, 3],
      };
      assert.ok(!counts[root]?.includes(names.length), `${root} with ${names.length} segments refused`);
      return;
    }
    const route = result.value as Record<string, string | undefined>;
    assert.equal(route.namespace, names[0]);
    assert.equal(route.pod, names[1]);
    if (route.kind === 'logs' || ((route.kind === 'exec' || route.kind === 'attach') && names.length === 3)) {
      assert.equal(route.container, names[2]);
    }
  });
});

/** A query with the parameters a handler reads, given any values, plus unrelated ones. */
function query(keys: readonly string[]): fc.Arbitrary<URLSearchParams> {
  const value = fc.oneof(
    anyString(12),
    fc.integer().map(String),
    fc.constantFrom('true', 'false', '1', '0', '', '-1', '99999999999999999999', '1e3', '0x10', ' 5'),
    fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    fc.constantFrom('2024-02-30T00:00:00Z', '2024-13-01T00:00:00Z', '2024-01-01T25:61:61Z', '0000-01-01T00:00:00Z'),
  );
  return fc
    .array(fc.tuple(fc.oneof(fc.constantFrom(...keys), anyString(6)), value), { maxLength: 6 })
    .map((pairs) => new URLSearchParams(pairs));
}

test('fuzz: log options parse to sane values or an InvalidInputError', (t) => {
  const keys = ['follow', 'previous', 'timestamps', 'tailLines', 'limitBytes', 'sinceSeconds', 'sinceTime'];
  fuzz(t, 'kubelet API parseLogOptions', query(keys), (params) => {
    const result = parsesOrRefuses(() => parseLogOptions(params), InvalidInputError);
    if ('error' in result) return;
    const options = result.value;
    for (const flag of ['follow', 'previous', 'timestamps'] as const) assert.equal(typeof options[flag], 'boolean');
    if (options.tailLines !== undefined) assert.ok(Number.isSafeInteger(options.tailLines) && options.tailLines >= 0);
    if (options.limitBytes !== undefined)
      assert.ok(Number.isSafeInteger(options.limitBytes) && options.limitBytes >= 1);
    if (options.sinceSeconds !== undefined) {
      assert.ok(Number.isSafeInteger(options.sinceSeconds) && options.sinceSeconds >= 1);
    }
    if (options.sinceTime !== undefined) {
      assert.ok(!Number.isNaN(options.sinceTime.getTime()), `sinceTime ${params.get('sinceTime')} is an invalid date`);
    }
  });
});

test('fuzz: exec and port-forward queries parse or are an InvalidInputError', (t) => {
  fuzz(t, 'kubelet API parseRemoteCommandQuery', query(['command', 'input', 'output', 'error', 'tty']), (params) => {
    const result = parsesOrRefuses(() => parseRemoteCommandQuery(params), InvalidInputError);
    if ('value' in result) {
      const q = result.value;
      assert.ok(q.stdin || q.stdout || q.stderr);
      assert.ok(!(q.tty && q.stderr));
      assert.deepEqual(q.command, params.getAll('command'));
    }
  });
  const ports = fc.oneof(
    query(['port']),
    fc
      .array(fc.oneof(fc.integer({ min: -1, max: 70_000 }).map(String), fc.constantFrom('', ',', '80,', '08', '+80')), {
        maxLength: 4,
      })
      .map((values) => new URLSearchParams(values.map((v): [string, string] => ['port', v]))),
  );
  fuzz(t, 'kubelet API parsePortForwardPorts', ports, (params) => {
    const result = parsesOrRefuses(() => parsePortForwardPorts(params), InvalidInputError);
    if ('value' in result)
      for (const port of result.value) assert.ok(Number.isInteger(port) && port >= 1 && port <= 65535);
  });
});

test('fuzz: whole requests to a live server get a kubelet status and one line, never a 500', async (t) => {
  const ca = createCertificateAuthority('fuzz-client-ca');
  const client = issueCertificate(ca, { subject: { commonName: 'admin' }, extendedKeyUsage: ['clientAuth'] });
  const pod: Pod = {
    metadata: { name: 'app', namespace: 'ns', uid: 'uid-1' },
    spec: { containers: [{ name: 'main', image: 'x' }] },
  };
  const server = new KubeletServer({
    nodeName: 'n',
    provider: {
      createPod: async () => {},
      updatePod: async () => {},
      deletePod: async () => {},
      getPod: async () => undefined,
      getPodStatus: async () => undefined,
      getPods: async () => [pod],
      getContainerLogs: async () => {
        const { Readable } = await import('node:stream');
        return Readable.from([Buffer.from('a line\n')]);
      },
    },
    getPod: (namespace, name) => (namespace === 'ns' && name === 'app' ? pod : undefined),
    listPods: () => [pod],
    keyPair: selfSignedKeyPair('n', ['127.0.0.1']),
    clientCA: Buffer.from(ca.certificate),
    authenticator: new Authenticator({}),
  });
  const port = await server.listen(0, '127.0.0.1');
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 4,
    cert: client.certificate,
    key: client.key,
    rejectUnauthorized: false,
  });
  t.after(async () => {
    agent.destroy();
    await server.close();
  });
  const target = fc.oneof(
    path,
    fc.constantFrom('/containerLogs/ns/app/main', '/exec/ns/app/main', '/portForward/ns/app', '/stats/summary'),
  );
  const requests = fc.tuple(
    fc.constantFrom(...METHODS),
    target,
    query(['tailLines', 'sinceTime', 'follow', 'command', 'port', 'limitBytes']),
  );
  await fuzzAsync(
    t,
    'kubelet API live requests',
    requests,
    async ([m, p, q]) => {
      // %-encoded beyond printable ASCII, as clients send paths (raw bytes there are a parse error, answered
      // before any handler runs: the kubelet-api e2e test sends those).
      const sendable = p.replace(/[^\u0021-\u007e]/gu, (c) =>
        [...Buffer.from(c)].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join(''),
      );
      const search = q.toString();
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, method: m, path: `${sendable}${search ? `?${search}` : ''}`, agent },
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
      assert.ok([200, 400, 404, 501].includes(answer.status), `${m} ${p}?${search}: ${answer.status} ${answer.body}`);
      if (answer.status !== 200) assert.match(answer.body, m === 'HEAD' ? /^$/ : /^[^\n]+\n$/);
    },
    { runs: 3000 },
  );
});
