/**
 * The client while the Podman service is down (tools/podman/service.ts `restart`): every call
 * fails fast with PodmanUnavailableError, a live event stream throws instead of hanging, and
 * after the restart the same client works again and finds the containers still running —
 * conmon, not the service, keeps them alive.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  type PodmanTestEnvironment,
  podmanSkipReason,
  podmanTestEnvironment,
  waitFor,
} from '../../../tools/podman/testing.ts';
import { isPodmanUnavailable, type PodmanEvent } from './podman-client.ts';

describe('PodmanClient across a Podman service outage', { skip: podmanSkipReason() }, () => {
  let env: PodmanTestEnvironment;
  const labels = { 'io.virtual-kubelet.test': `outage-${randomBytes(3).toString('hex')}` };

  before(async () => {
    env = await podmanTestEnvironment();
  });

  after(async () => {
    if (!env) return;
    if (!env.service.running) await env.service.start();
    await env.service.removePods(labels);
    await env.service.close();
  });

  test('calls fail fast while the service is down; containers survive; the client recovers', async () => {
    const { client, service } = env;
    const pod = `vkt-outage-${labels['io.virtual-kubelet.test']}`;
    await client.createPod({ name: pod, labels });
    await client.startPod(pod);
    const id = await client.createContainer({
      name: `${pod}-main`,
      pod,
      image: env.busybox,
      entrypoint: ['sleep', '600'],
      labels,
    });
    await client.startContainer(id);
    const before = await client.inspectContainer(id);

    // Replaying from before the container's start proves the stream is connected before the outage.
    const seen: PodmanEvent[] = [];
    const watching = (async () => {
      for await (const event of client.events({ since: new Date(Date.now() - 60_000), filters: { label: labels } })) {
        seen.push(event);
      }
    })();
    await waitFor('the replayed start event', () => seen.some((e) => e.id === id && e.action === 'start'));
    const outcome = watching.then(
      () => 'ended',
      (error: unknown) => error,
    );

    await service.stop();
    assert.ok(isPodmanUnavailable(await outcome), 'the live event stream throws when the service goes away');
    const started = performance.now();
    await assert.rejects(client.ping(), (error: unknown) => isPodmanUnavailable(error));
    await assert.rejects(client.inspectContainer(id), (error: unknown) => isPodmanUnavailable(error));
    assert.ok(performance.now() - started < 2000, 'failures are immediate, not timeouts');

    await service.start();
    await client.ping();
    const after = await client.inspectContainer(id);
    assert.equal(after.state.running, true, 'the container ran on while the service was down');
    assert.equal(after.state.startedAt?.getTime(), before.state.startedAt?.getTime());
    assert.equal(after.state.pid, before.state.pid);

    const controller = new AbortController();
    const resumed: PodmanEvent[] = [];
    const rewatching = (async () => {
      for await (const event of client.events({
        since: new Date(Date.now() - 1000),
        filters: { label: labels },
        signal: controller.signal,
      })) {
        resumed.push(event);
      }
    })();
    await client.killContainer(id, 'SIGKILL');
    await waitFor('the died event after the restart', () => resumed.some((e) => e.id === id && e.action === 'died'), {
      timeoutMs: 10_000,
    });
    controller.abort();
    await rewatching;
  });

  test('restart(downtimeMs) keeps the service down for that long', async () => {
    const { client, service } = env;
    const started = performance.now();
    const restarting = service.restart(1500);
    await waitFor('the service to go down', async () => {
      try {
        await client.ping();
        return false;
      } catch (error) {
        return isPodmanUnavailable(error);
      }
    });
    await restarting;
    const downtime = performance.now() - started;
    assert.ok(downtime >= 1500, `down for ${Math.round(downtime)} ms`);
    await client.ping();
  });
});
