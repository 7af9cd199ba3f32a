/**
 * Images against a real Podman service: the locally built busybox image's defaults, and pulls
 * from a private registry (tools/podman/registry.ts) with right, wrong and no credentials —
 * the failure must carry the registry's own words, which the provider shows as ErrImagePull.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startRegistry, type TestRegistry } from '../../../tools/podman/registry.ts';
import { type PodmanTestEnvironment, podmanSkipReason, podmanTestEnvironment } from '../../../tools/podman/testing.ts';
import { ImagePullError, type PodmanClient } from './podman-client.ts';

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('PodmanClient images', { skip: podmanSkipReason() }, () => {
  let env: PodmanTestEnvironment;
  let client: PodmanClient;
  let registry: TestRegistry;
  const password = randomBytes(8).toString('hex');
  const timings: Record<string, number> = {};

  before(async () => {
    env = await podmanTestEnvironment();
    client = env.client;
    const started = performance.now();
    registry = await startRegistry({ username: 'alice', password, client });
    timings.registryStartAndPush = Math.round(performance.now() - started);
  });

  after(async () => {
    if (!env) return;
    process.stderr.write(`podman image timings (ms): ${JSON.stringify(timings)}\n`);
    if (registry) {
      await client.removeImage(registry.image).catch(() => {});
      await registry.stop();
    }
    await env.service.close();
  });

  test('inspectImage: what a container inherits from the busybox image', async () => {
    const image = await client.inspectImage(env.busybox);
    assert.match(image.id, /^[0-9a-f]{64}$/);
    assert.deepEqual(image.cmd, ['sh']);
    assert.deepEqual(image.entrypoint, []);
    assert.equal(image.workingDir, '/');
    assert.equal(image.user, '');
    assert.ok(image.env.some((e) => e.startsWith('PATH=')));
    assert.ok(image.repoTags.includes(env.busybox));
    assert.deepEqual(image.exposedPorts, []);
  });

  test('a pull without credentials fails with the registry complaint', async () => {
    await assert.rejects(client.pullImage(registry.image, { tlsVerify: false }), (error: unknown) => {
      assert.ok(error instanceof ImagePullError);
      assert.equal(error.failure, 'unauthorized');
      assert.equal(error.reference, registry.image);
      assert.match(error.message, /unauthorized: authentication required/);
      return true;
    });
  });

  test('a pull with a wrong password fails the same way', async () => {
    const auth = { username: 'alice', password: 'wrong', serverAddress: registry.host };
    await assert.rejects(client.pullImage(registry.image, { tlsVerify: false, auth }), (error: unknown) => {
      assert.ok(error instanceof ImagePullError);
      assert.equal(error.failure, 'unauthorized');
      assert.match(error.message, /unauthorized/);
      return true;
    });
  });

  test('a pull with the right credentials resolves with the image ID', async () => {
    const progress: string[] = [];
    const started = performance.now();
    const id = await client.pullImage(registry.image, {
      tlsVerify: false,
      auth: { username: 'alice', password, serverAddress: registry.host },
      onProgress: (line) => progress.push(line),
    });
    timings.pull = Math.round(performance.now() - started);
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal((await client.inspectImage(registry.image)).id, id);
    assert.ok(await client.imageExists(registry.image));
    assert.ok(
      progress.some((line) => /Writing manifest/.test(line)),
      progress.join('\n'),
    );
  });

  test('a missing tag, HTTPS against a plain-HTTP registry, and no registry at all', async () => {
    const auth = { username: 'alice', password, serverAddress: registry.host };
    await assert.rejects(
      client.pullImage(`${registry.host}/busybox:no-such-tag`, { tlsVerify: false, auth }),
      (error: unknown) =>
        error instanceof ImagePullError && error.failure === 'not-found' && /manifest unknown/.test(error.message),
    );
    await assert.rejects(client.pullImage(registry.image, { auth }), (error: unknown) => {
      assert.ok(error instanceof ImagePullError);
      assert.match(error.message, /HTTP response to HTTPS client/);
      return true;
    });
    const port = await closedPort();
    await assert.rejects(
      client.pullImage(`127.0.0.1:${port}/busybox:1`, { tlsVerify: false }),
      (error: unknown) =>
        error instanceof ImagePullError && error.failure === 'unreachable' && /connection refused/.test(error.message),
    );
  });
});
