import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { until } from '../../test/support/wait.ts';
import { KubeApiError } from '../errors.ts';
import type { ListOptions, WatchEvent, WatchOptions } from './client.ts';
import { Informer, type ListWatchClient } from './informer.ts';
import { ConfigMaps, type KubeList, type KubeObject, type ResourceType } from './resources.ts';

function cm(name: string, rv: string, data: Record<string, string> = {}): ConfigMap {
  return {
    metadata: { name, namespace: 'ns', resourceVersion: rv, managedFields: [{ manager: 'x' }] },
    data,
  };
}

/** A scripted API: each list/watch call takes the next entry. A watch script yields its events then ends, throws, or hangs. */
class FakeApi implements ListWatchClient {
  lists: (KubeList<ConfigMap> | Error)[] = [];
  watches: { events: WatchEvent<ConfigMap>[]; ending: 'end' | 'hang' | Error }[] = [];
  listCalls: ListOptions[] = [];
  watchCalls: WatchOptions[] = [];

  async list<T extends KubeObject>(_type: ResourceType<T>, options: ListOptions = {}): Promise<KubeList<T>> {
    this.listCalls.push(options);
    const next = this.lists.shift();
    if (!next) return new Promise(() => {}) as never;
    if (next instanceof Error) throw next;
    return next as unknown as KubeList<T>;
  }

  async *watch<T extends KubeObject>(
    _type: ResourceType<T>,
    options: WatchOptions = {},
  ): AsyncGenerator<WatchEvent<T>> {
    this.watchCalls.push(options);
    const script = this.watches.shift() ?? { events: [], ending: 'hang' as const };
    for (const event of script.events) yield event as unknown as WatchEvent<T>;
    if (script.ending instanceof Error) throw script.ending;
    if (script.ending === 'hang') {
      await new Promise<void>((resolve) => options.signal?.addEventListener('abort', () => resolve(), { once: true }));
    }
  }
}

test('lists, then watches from the list resourceVersion with bookmarks; handlers see every change', async () => {
  const api = new FakeApi();
  api.lists.push({ metadata: { resourceVersion: '10' }, items: [cm('a', '5'), cm('b', '6')] });
  api.watches.push({
    events: [
      { type: 'ADDED', object: cm('c', '11') },
      { type: 'MODIFIED', object: cm('a', '12', { k: 'v' }) },
      { type: 'DELETED', object: cm('b', '13') },
      { type: 'BOOKMARK', object: { metadata: { resourceVersion: '20' } } },
    ],
    ending: 'hang',
  });
  const informer = new Informer({ client: api, type: ConfigMaps });
  const seen: string[] = [];
  informer.addHandlers({
    onAdd: (o) => seen.push(`add ${o.metadata?.name}`),
    onUpdate: (p, c) => seen.push(`update ${p.metadata?.resourceVersion}->${c.metadata?.resourceVersion}`),
    onDelete: (o) => seen.push(`delete ${o.metadata?.name}`),
  });
  const controller = new AbortController();
  informer.start(controller.signal);
  await informer.synced;
  await until(() => informer.resourceVersion === '20', 'the bookmark');
  controller.abort();
  assert.deepEqual(seen, ['add a', 'add b', 'add c', 'update 5->12', 'delete b']);
  assert.equal(api.watchCalls[0]?.resourceVersion, '10');
  assert.equal(api.watchCalls[0]?.allowWatchBookmarks, true);
  assert.deepEqual([...informer.keys()].sort(), ['ns/a', 'ns/c']);
  assert.equal(informer.get('ns/a')?.metadata?.managedFields, undefined, 'managedFields are stripped');
  assert.equal(informer.get('ns/a')?.data?.k, 'v');
});

test('410 Gone relists; objects that vanished meanwhile are reported deleted', async () => {
  const api = new FakeApi();
  api.lists.push({ metadata: { resourceVersion: '10' }, items: [cm('a', '5'), cm('b', '6')] });
  api.watches.push({ events: [], ending: new KubeApiError(410, 'Expired', 'too old resource version') });
  api.lists.push({ metadata: { resourceVersion: '30' }, items: [cm('a', '25'), cm('c', '26')] });
  api.watches.push({ events: [], ending: 'hang' });
  const informer = new Informer({ client: api, type: ConfigMaps });
  const seen: string[] = [];
  informer.addHandlers({
    onAdd: (o) => seen.push(`add ${o.metadata?.name}`),
    onUpdate: (_p, c) => seen.push(`update ${c.metadata?.name}`),
    onDelete: (o) => seen.push(`delete ${o.metadata?.name}`),
  });
  const controller = new AbortController();
  informer.start(controller.signal);
  await until(() => api.watchCalls.length === 2, 'the second watch');
  controller.abort();
  assert.deepEqual(seen, ['add a', 'add b', 'delete b', 'update a', 'add c']);
  assert.equal(api.watchCalls[1]?.resourceVersion, '30');
  assert.equal(informer.stats.lists, 2);
});

test('a watch that delivers nothing for the stall timeout is replaced, resuming from the last resourceVersion', async () => {
  const api = new FakeApi();
  api.lists.push({ metadata: { resourceVersion: '10' }, items: [] });
  api.watches.push({ events: [{ type: 'ADDED', object: cm('a', '11') }], ending: 'hang' });
  api.watches.push({ events: [{ type: 'ADDED', object: cm('b', '12') }], ending: 'hang' });
  const informer = new Informer({ client: api, type: ConfigMaps, stallTimeoutMs: 30, minBackoffMs: 1 });
  const controller = new AbortController();
  informer.start(controller.signal);
  await until(() => informer.get('ns/b') !== undefined, 'the replacement watch');
  controller.abort();
  assert.ok(informer.stats.stalls >= 1);
  assert.equal(api.watchCalls[1]?.resourceVersion, '11');
  assert.equal(informer.stats.lists, 1, 'a stall does not relist');
});

test('errors back off and retry until the API answers', async () => {
  const api = new FakeApi();
  api.lists.push(new Error('connection refused'), new Error('connection refused'));
  api.lists.push({ metadata: { resourceVersion: '3' }, items: [cm('a', '2')] });
  api.watches.push({ events: [], ending: new Error('connection reset') });
  api.watches.push({ events: [{ type: 'ADDED', object: cm('b', '4') }], ending: 'hang' });
  const informer = new Informer({ client: api, type: ConfigMaps, minBackoffMs: 1, maxBackoffMs: 5 });
  const controller = new AbortController();
  informer.start(controller.signal);
  await until(() => informer.get('ns/b') !== undefined, 'recovery');
  controller.abort();
  assert.equal(informer.stats.errors, 3);
  assert.equal(api.watchCalls[1]?.resourceVersion, '3');
});

test('resync re-delivers cached objects to onUpdate', async () => {
  const api = new FakeApi();
  api.lists.push({ metadata: { resourceVersion: '1' }, items: [cm('a', '1')] });
  const informer = new Informer({ client: api, type: ConfigMaps, resyncPeriodMs: 10 });
  let resyncs = 0;
  informer.addHandlers({ onUpdate: (p, c) => p === c && resyncs++ });
  const controller = new AbortController();
  informer.start(controller.signal);
  await until(() => resyncs >= 2, 'two resyncs');
  controller.abort();
});
