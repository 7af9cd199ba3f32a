/**
 * The client's rate limit against a local HTTP server that answers as the API server's flow
 * control does: the cap holds, a 429 with Retry-After lowers the rate and is retried, and requests
 * with a budget of their own (events) take none of the client's tokens.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { KubeClient } from './client.ts';
import { ConfigMaps, Events } from './resources.ts';

let server: Server;
let url: string;
/** How many of the next requests get a 429. */
let refuseNext = 0;
let answered = 0;

before(async () => {
  server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      answered++;
      if (refuseNext > 0) {
        refuseNext--;
        response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '0' });
        response.end(JSON.stringify({ kind: 'Status', code: 429, reason: 'TooManyRequests', message: 'busy' }));
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ kind: 'ConfigMap', metadata: { name: 'x', namespace: 'default' } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => server.close());

function client(options: ConstructorParameters<typeof KubeClient>[1]): KubeClient {
  return new KubeClient({ server: url, source: 'test' }, options);
}

test('a 429 with Retry-After halves the rate below the cap, and the request is retried', async () => {
  const kube = client({ qps: 100, burst: 10 });
  assert.equal(kube.rateLimit, 100);
  refuseNext = 3;
  const before = answered;
  const configMap = await kube.get(ConfigMaps, { namespace: 'default', name: 'x' });
  assert.equal(configMap.metadata?.name, 'x');
  assert.equal(answered - before, 4, 'three refusals and the answer');
  assert.equal(kube.throttledAnswers, 3);
  // Three refusals in a row, each after a Retry-After of 0 (waited as 100 ms): within one calm
  // window of a second, so the rate halved once.
  assert.equal(kube.rateLimit, 50);
  assert.equal(kube.pending, 0);
  await kube.close();
});

test('the cap is a cap: accepted requests never raise the rate above --kube-api-qps', async () => {
  const kube = client({ qps: 1000, burst: 1000 });
  await Promise.all(Array.from({ length: 50 }, () => kube.get(ConfigMaps, { namespace: 'default', name: 'x' })));
  assert.equal(kube.rateLimit, 1000);
  await kube.close();
});

test('without adaptive the rate stays fixed whatever the server answers', async () => {
  const kube = client({ qps: 100, burst: 10, adaptive: false });
  refuseNext = 1;
  await kube.get(ConfigMaps, { namespace: 'default', name: 'x' });
  assert.equal(kube.throttledAnswers, 1);
  assert.equal(kube.rateLimit, 100);
  await kube.close();
});

test('qps 0 is unlimited: nothing adapts and nothing waits', async () => {
  const kube = client({ qps: 0, burst: 1 });
  assert.equal(kube.rateLimit, Number.POSITIVE_INFINITY);
  const gets = Array.from({ length: 20 }, () => kube.get(ConfigMaps, { namespace: 'default', name: 'x' }));
  assert.equal(kube.throttled, 0);
  await Promise.all(gets);
  await kube.close();
});

test("events (a budget of their own) never take the client's tokens", async () => {
  // One token, refilled every 100 s: a request that took it would make the next one wait.
  const kube = client({ qps: 0.01, burst: 1 });
  const event = { metadata: { name: 'e', namespace: 'default' }, involvedObject: {} };
  await Promise.all(
    Array.from({ length: 5 }, () => kube.create(Events, event, { ownBudget: true, answer: 'metadata' })),
  );
  await kube.patch(Events, { namespace: 'default', name: 'e' }, { count: 2 }, 'merge', { ownBudget: true });
  // The token is still there: this GET takes it without waiting (take() runs before the first await)...
  const first = kube.get(ConfigMaps, { namespace: 'default', name: 'x' });
  assert.equal(kube.throttled, 0);
  // ...and the next one has to wait for the refill: the budget is real.
  const controller = new AbortController();
  const second = kube.get(ConfigMaps, { namespace: 'default', name: 'x' }, controller.signal);
  assert.equal(kube.throttled, 1);
  await first;
  controller.abort();
  await assert.rejects(second);
  await kube.close();
});
