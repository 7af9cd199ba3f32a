import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { KubeApiError } from '../errors.ts';
import type { WatchEvent, WatchOptions } from './client.ts';
import { LeaderElector, type LeaseClient } from './leader-election.ts';
import type { KubeObject, ObjectLocation, ResourceType } from './resources.ts';

/** One Lease with the API server's optimistic concurrency, and a watch on it. */
class LeaseStore {
  lease: Lease | undefined;
  #version = 0;
  readonly #watchers = new Set<(event: WatchEvent<Lease>) => void>();

  write(lease: Lease, type: 'ADDED' | 'MODIFIED'): Lease {
    this.lease = structuredClone({
      ...lease,
      metadata: { ...lease.metadata, resourceVersion: String(++this.#version) },
    });
    for (const watcher of this.#watchers) watcher({ type, object: structuredClone(this.lease) });
    return structuredClone(this.lease);
  }

  /** A client of this store; `down` makes its calls fail as an unreachable API server would. */
  client(): LeaseClient & { down: boolean } {
    const store = this;
    const fail = () => {
      if (client.down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    };
    const client = {
      down: false,
      async get<T extends KubeObject>(_type: ResourceType<T>, _location: ObjectLocation): Promise<T> {
        fail();
        if (!store.lease) throw new KubeApiError(404, 'NotFound', 'not found');
        return structuredClone(store.lease) as T;
      },
      async create<T extends KubeObject>(_type: ResourceType<T>, object: T): Promise<T> {
        fail();
        if (store.lease) throw new KubeApiError(409, 'AlreadyExists', 'already exists');
        return store.write(object as Lease, 'ADDED') as T;
      },
      async replace<T extends KubeObject>(_type: ResourceType<T>, object: T): Promise<T> {
        fail();
        if (!store.lease) throw new KubeApiError(404, 'NotFound', 'not found');
        if (object.metadata?.resourceVersion !== store.lease.metadata?.resourceVersion) {
          throw new KubeApiError(409, 'Conflict', 'the object has been modified');
        }
        return store.write(object as Lease, 'MODIFIED') as T;
      },
      async *watch<T extends KubeObject>(_type: ResourceType<T>, options: WatchOptions = {}) {
        fail();
        const queue: WatchEvent<Lease>[] = store.lease ? [{ type: 'ADDED', object: structuredClone(store.lease) }] : [];
        let wake = () => {};
        const watcher = (event: WatchEvent<Lease>) => {
          queue.push(event);
          wake();
        };
        store.#watchers.add(watcher);
        options.signal?.addEventListener('abort', () => wake(), { once: true });
        try {
          while (!options.signal?.aborted) {
            const event = queue.shift();
            if (event) yield event as unknown as WatchEvent<T>;
            else await new Promise<void>((resolve) => (wake = resolve));
          }
        } finally {
          store.#watchers.delete(watcher);
        }
      },
    };
    return client;
  }
}

const TIMINGS = { leaseDurationMs: 2000, renewDeadlineMs: 1400, retryPeriodMs: 500 };

function candidate(store: LeaseStore, identity: string, timings = TIMINGS) {
  const client = store.client();
  const elector = new LeaderElector({ client, namespace: 'kube-system', name: 'vk-node', identity, ...timings });
  return { elector, client };
}

test('the first candidate creates the lease; a second stands by while it is renewed', async () => {
  const store = new LeaseStore();
  const a = candidate(store, 'a');
  const b = candidate(store, 'b');
  const stop = new AbortController();
  assert.equal(await a.elector.acquire(stop.signal), true);
  assert.equal(store.lease?.spec?.holderIdentity, 'a');
  assert.equal(store.lease?.spec?.leaseTransitions, 0);
  assert.equal(store.lease?.spec?.leaseDurationSeconds, 2);
  const leading = a.elector.lead(stop.signal);
  const standby = new AbortController();
  const waiting = b.elector.acquire(standby.signal);
  // Longer than the lease duration: only renewals keep b out.
  await new Promise((resolve) => setTimeout(resolve, 2500));
  assert.equal(b.elector.isLeader, false);
  assert.equal(b.elector.leader, 'a');
  standby.abort();
  assert.equal(await waiting, false);
  stop.abort();
  assert.equal(await leading, 'stopped');
});

test('a released lease is taken over at once (the watch), not at the next poll', async () => {
  const store = new LeaseStore();
  const a = candidate(store, 'a');
  const b = candidate(store, 'b', { leaseDurationMs: 30_000, renewDeadlineMs: 20_000, retryPeriodMs: 10_000 });
  const stopA = new AbortController();
  await a.elector.acquire(stopA.signal);
  const stopB = new AbortController();
  const waiting = b.elector.acquire(stopB.signal);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const released = Date.now();
  assert.equal(await a.elector.release(), true);
  assert.equal(store.lease?.spec?.holderIdentity, '');
  assert.equal(await waiting, true);
  assert.ok(Date.now() - released < 1000, `took ${Date.now() - released} ms`);
  assert.equal(store.lease?.spec?.holderIdentity, 'b');
  assert.equal(store.lease?.spec?.leaseTransitions, 1);
  stopB.abort();
});

test('a leader that stops renewing is replaced after the lease duration, measured from the last change seen', async () => {
  const store = new LeaseStore();
  const a = candidate(store, 'a');
  const b = candidate(store, 'b');
  await a.elector.acquire(new AbortController().signal);
  const acquiredAt = store.lease?.spec?.acquireTime;
  const died = Date.now(); // a never renews: as after a SIGKILL
  const stopB = new AbortController();
  assert.equal(await b.elector.acquire(stopB.signal), true);
  const waited = Date.now() - died;
  assert.ok(waited >= 2000 && waited < 3000, `took over after ${waited} ms`);
  assert.equal(store.lease?.spec?.holderIdentity, 'b');
  assert.equal(store.lease?.spec?.leaseTransitions, 1);
  assert.notEqual(store.lease?.spec?.acquireTime, acquiredAt);
  stopB.abort();
});

test('a leader that cannot renew within the renew deadline stops leading before anyone may take over', async () => {
  const store = new LeaseStore();
  const a = candidate(store, 'a');
  const stop = new AbortController();
  await a.elector.acquire(stop.signal);
  const leading = a.elector.lead(stop.signal);
  await new Promise((resolve) => setTimeout(resolve, 700));
  const cut = Date.now();
  a.client.down = true;
  assert.equal(await leading, 'lost');
  const after = Date.now() - cut;
  // Renewed at most one retry period before the cut; gives up at the 1.4 s deadline, before the 2 s lease ends.
  assert.ok(after < 2000, `gave up ${after} ms after the cut`);
  assert.equal(a.elector.isLeader, false);
  stop.abort();
});

test('a leader whose lease someone else took stops at its next renewal', async () => {
  const store = new LeaseStore();
  const a = candidate(store, 'a');
  const stop = new AbortController();
  await a.elector.acquire(stop.signal);
  const leading = a.elector.lead(stop.signal);
  const lease = store.lease as Lease;
  store.write({ ...lease, spec: { ...lease.spec, holderIdentity: 'intruder' } }, 'MODIFIED');
  const started = Date.now();
  assert.equal(await leading, 'lost');
  assert.ok(Date.now() - started < 1000);
  // Leading no more, it does not release what it does not hold.
  assert.equal(await a.elector.release(), true);
  assert.equal(store.lease?.spec?.holderIdentity, 'intruder');
  stop.abort();
});

test('only one of two candidates racing for an expired lease wins', async () => {
  const store = new LeaseStore();
  const now = new Date(Date.now() - 60_000).toISOString().replace('Z', '000Z');
  store.write(
    {
      metadata: { name: 'vk-node', namespace: 'kube-system' },
      spec: { holderIdentity: 'gone', leaseDurationSeconds: 1, renewTime: now, acquireTime: now, leaseTransitions: 4 },
    },
    'ADDED',
  );
  const a = candidate(store, 'a');
  const b = candidate(store, 'b');
  const stop = new AbortController();
  const winner = await Promise.race([
    a.elector.acquire(stop.signal).then(() => 'a'),
    b.elector.acquire(stop.signal).then(() => 'b'),
  ]);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(store.lease?.spec?.holderIdentity, winner);
  assert.equal(store.lease?.spec?.leaseTransitions, 5);
  assert.equal([a, b].filter((c) => c.elector.isLeader).length, 1);
  stop.abort();
});

test('settings that break the guarantee are refused', () => {
  const client = new LeaseStore().client();
  const make = (timings: Partial<typeof TIMINGS>) =>
    new LeaderElector({ client, namespace: 'n', name: 'l', identity: 'i', ...TIMINGS, ...timings });
  assert.throws(() => make({ renewDeadlineMs: 2000 }), /longer than the renew deadline/);
  assert.throws(() => make({ retryPeriodMs: 1200 }), /1.2 retry periods/);
});
