/**
 * The pure parts of the client: request bodies, answer decoding, rlimits, auth headers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isNotFound } from '../../../errors.ts';
import { containerCreateBody, signalNumber } from './containers.ts';
import { errorFromResponse, ImagePullError, PodmanError } from './errors.ts';
import { eventFilterQuery, eventFromRaw } from './events.ts';
import { registryAuthHeader } from './images.ts';
import { parseLogPayload } from './logs.ts';
import { labelFilterQuery, podCreateBody } from './pods.ts';
import { hostRlimits, normalizeRlimits, runtimeErrorHint, withDefaultRlimits } from './rlimits.ts';
import { parsePodmanEndpoint } from './transport.ts';

describe('decoding Podman answers', () => {
  test('log payloads: time, text, partial lines, no timestamp', () => {
    assert.deepEqual(parseLogPayload('2026-11-25T20:22:19Z out0\n', 'stdout'), {
      stream: 'stdout',
      time: new Date('2026-11-25T20:22:19Z'),
      text: 'out0',
      partial: false,
    });
    const partial = parseLogPayload('2026-11-25T21:22:19+01:00 no newline', 'stderr');
    assert.equal(partial.time.toISOString(), '2026-11-25T20:22:19.000Z');
    assert.equal(partial.text, 'no newline');
    assert.equal(partial.partial, true);
    assert.equal(parseLogPayload('2026-11-25T20:22:19Z  two spaces\n', 'stdout').text, ' two spaces');
    assert.equal(parseLogPayload('plain text\n', 'stdout').text, 'plain text');
  });

  test('events: attributes split out, exit code only for died, exact timeNano', () => {
    const line =
      '{"status":"died","id":"abc","from":"localhost/busybox:test","Type":"container","Action":"died","Actor":{"ID":"abc","Attributes":{"containerExitCode":"137","image":"localhost/busybox:test","name":"web","podId":"","app":"x"}},"scope":"local","time":1795638110,"timeNano":1795638110241382439}';
    const event = eventFromRaw(JSON.parse(line), line);
    assert.equal(event.action, 'died');
    assert.equal(event.type, 'container');
    assert.equal(event.id, 'abc');
    assert.equal(event.name, 'web');
    assert.equal(event.exitCode, 137);
    assert.deepEqual(event.attributes, { app: 'x' });
    assert.equal(event.timeNano, 1795638110241382439n);
    assert.equal(event.time.toISOString(), new Date(1795638110241).toISOString());
    const start = eventFromRaw({
      Type: 'container',
      Action: 'start',
      Actor: { ID: 'abc', Attributes: { containerExitCode: '0' } },
      time: 1,
    });
    assert.equal(start.exitCode, undefined);
    assert.equal(start.timeNano, 1_000_000_000n);
  });

  test('filters', () => {
    assert.equal(labelFilterQuery(undefined), undefined);
    assert.equal(labelFilterQuery({ a: 'b', c: undefined }, { pod: ['p'] }), '{"pod":["p"],"label":["a=b","c"]}');
    assert.equal(
      eventFilterQuery({ type: ['container'], event: [], label: { a: 'b' } }),
      '{"type":["container"],"label":["a=b"]}',
    );
  });

  test('errors: 404 becomes NotFoundError with the PodmanError as cause; pod reports join Errs', () => {
    const notFound = errorFromResponse(
      404,
      '{"cause":"no such container","message":"no container with name or ID \\"x\\" found: no such container","response":404}',
      'inspecting container "x"',
    );
    assert.ok(isNotFound(notFound));
    assert.equal(
      notFound.message,
      'inspecting container "x": no container with name or ID "x" found: no such container',
    );
    assert.ok(notFound.cause instanceof PodmanError);
    const conflict = errorFromResponse(
      409,
      '{"Errs":["starting container a: boom","starting container b: bang"],"Id":"p"}',
      'starting pod',
    );
    assert.ok(conflict instanceof PodmanError);
    assert.equal(conflict.status, 409);
    assert.equal(conflict.message, 'starting pod: starting container a: boom; starting container b: bang');
    const taken = errorFromResponse(
      500,
      '{"cause":"that name is already in use","message":"…","response":500}',
      'creating',
    );
    assert.ok(taken instanceof PodmanError && taken.alreadyExists);
    assert.equal((errorFromResponse(502, 'bad gateway', 'x') as PodmanError).message, 'x: bad gateway');
  });

  test('pull failures are classified from the registry text', () => {
    assert.equal(
      new ImagePullError('r', 'reading manifest 1 in r: unauthorized: authentication required').failure,
      'unauthorized',
    );
    assert.equal(
      new ImagePullError('r', 'reading manifest x in r: manifest unknown: manifest unknown').failure,
      'not-found',
    );
    assert.equal(new ImagePullError('r', 'dial tcp 127.0.0.1:1: connect: connection refused').failure, 'unreachable');
    // A port that contains a status code's digits is not that status.
    assert.equal(
      new ImagePullError('r', 'Get "http://127.0.0.1:40351/v2/": dial tcp 127.0.0.1:40351: connect: connection refused')
        .failure,
      'unreachable',
    );
    assert.equal(
      new ImagePullError('r', 'Get "http://127.0.0.1:54044/v2/": connection refused').failure,
      'unreachable',
    );
    assert.equal(new ImagePullError('r', 'something else').failure, 'other');
  });

  test('X-Registry-Auth is padded base64url of Docker AuthConfig JSON', () => {
    const header = registryAuthHeader({ username: 'alice', password: 'p?>', serverAddress: 'r:5000' });
    assert.match(header, /^[A-Za-z0-9_-]+=*$/);
    assert.equal(header.length % 4, 0, 'Go decodes URLEncoding with padding');
    assert.deepEqual(JSON.parse(Buffer.from(header, 'base64url').toString()), {
      username: 'alice',
      password: 'p?>',
      serveraddress: 'r:5000',
    });
    const token = JSON.parse(Buffer.from(registryAuthHeader({ identityToken: 't' }), 'base64url').toString());
    assert.deepEqual(token, { identitytoken: 't', serveraddress: '' });
  });

  test('endpoints', () => {
    assert.deepEqual(parsePodmanEndpoint('/run/podman/podman.sock'), { socketPath: '/run/podman/podman.sock' });
    assert.deepEqual(parsePodmanEndpoint('unix:///run/podman/podman.sock'), { socketPath: '/run/podman/podman.sock' });
    assert.deepEqual(parsePodmanEndpoint('tcp://127.0.0.1:8888'), { host: '127.0.0.1', port: 8888 });
    assert.deepEqual(parsePodmanEndpoint('http://[::1]:8888'), { host: '::1', port: 8888 });
    assert.throws(() => parsePodmanEndpoint('ssh://host/run/podman.sock'), /unsupported/);
  });
});

describe('request bodies', () => {
  test('pod create: Kubernetes-like defaults, only what is set', () => {
    assert.deepEqual(podCreateBody({ name: 'p' }), {
      name: 'p',
      labels: {},
      shared_namespaces: ['ipc', 'net', 'uts'],
      no_infra: false,
      exit_policy: 'continue',
      netns: { nsmode: 'bridge' },
    });
    const body = podCreateBody({
      name: 'p',
      hostname: 'h',
      networks: ['n1'],
      portMappings: [{ containerPort: 80, hostPort: 8080 }],
      hostAdd: ['db:10.0.0.1'],
      dnsServers: ['10.0.0.10'],
    });
    assert.deepEqual(body.Networks, { n1: {} });
    assert.deepEqual(body.portmappings, [{ container_port: 80, host_port: 8080, protocol: 'tcp' }]);
    assert.deepEqual(body.hostadd, ['db:10.0.0.1']);
    assert.equal(body.hostname, 'h');
  });

  test('container create: rlimits normalized and completed, signal names, empty argv dropped', () => {
    const body = containerCreateBody(
      {
        image: 'i',
        entrypoint: [],
        command: [],
        stop_signal: 'SIGQUIT',
        r_limits: [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 10 }],
      },
      [
        { type: 'nofile', soft: 1, hard: 1 },
        { type: 'nproc', soft: 2, hard: 2 },
      ],
    );
    assert.equal(body.stop_signal, 3);
    assert.equal('entrypoint' in body, false);
    assert.equal('command' in body, false);
    assert.deepEqual(body.r_limits, [
      { type: 'nofile', soft: 10, hard: 10 },
      { type: 'nproc', soft: 2, hard: 2 },
    ]);
    assert.equal('r_limits' in containerCreateBody({ image: 'i' }, undefined), false);
    assert.equal(signalNumber(9), 9);
    assert.equal(signalNumber('term'), 15);
    assert.throws(() => signalNumber('SIGNOPE'), /unknown signal/);
  });
});

describe('rlimits', () => {
  test('normalize and complete', () => {
    assert.deepEqual(normalizeRlimits([{ type: 'RLIMIT_NPROC', soft: 1, hard: 2 }]), [
      { type: 'nproc', soft: 1, hard: 2 },
    ]);
    assert.deepEqual(withDefaultRlimits(undefined, [{ type: 'NOFILE', soft: 5, hard: 5 }]), [
      { type: 'nofile', soft: 5, hard: 5 },
    ]);
  });

  test('host limits: hard limits capped at Podman default, nproc also at pid_max', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rlimits-'));
    writeFileSync(
      join(dir, 'limits'),
      [
        'Limit                     Soft Limit           Hard Limit           Units',
        'Max processes             96365                96365                processes',
        'Max open files            20000                20000                files',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'pid_max'), '32768\n');
    assert.deepEqual(hostRlimits(join(dir, 'limits'), join(dir, 'pid_max')), [
      { type: 'nofile', soft: 20000, hard: 20000 },
      { type: 'nproc', soft: 32768, hard: 32768 },
    ]);
    writeFileSync(
      join(dir, 'limits'),
      'Max processes unlimited unlimited processes\nMax open files unlimited unlimited files\n',
    );
    assert.deepEqual(hostRlimits(join(dir, 'limits'), join(dir, 'missing')), [
      { type: 'nofile', soft: 1_048_576, hard: 1_048_576 },
      { type: 'nproc', soft: 1_048_576, hard: 1_048_576 },
    ]);
    assert.equal(hostRlimits(join(dir, 'missing')), undefined);
  });

  test('runtime error hints', () => {
    const hint = runtimeErrorHint(
      'runc create failed: error setting rlimits for ready process: error setting rlimit type 7: operation not permitted',
    );
    assert.match(hint ?? '', /RLIMIT_NOFILE/);
    assert.match(hint ?? '', /default_ulimits/);
    assert.match(runtimeErrorHint('crun: error: something failed') ?? '', /runc/);
    assert.equal(runtimeErrorHint('image not known'), undefined);
  });
});
