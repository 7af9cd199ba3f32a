import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { LabelledCounter, LabelledHistogram } from './labelled-series.ts';

const buckets = [0.01, 0.1, 1];

test("a labelled histogram exposes what prom-client's own Histogram exposes for the same observations", async () => {
  const ours = new Registry();
  const theirs = new Registry();
  const histogram = new LabelledHistogram({ name: 'h', help: 'help', labelNames: ['verb'], buckets, registry: ours });
  const reference = new Histogram({ name: 'h', help: 'help', labelNames: ['verb'], buckets, registers: [theirs] });
  const observations: [string, number][] = [
    ['get', 0.005],
    ['get', 0.01],
    ['get', 0.5],
    ['patch', 3],
    ['get', 0.1],
  ];
  for (const [verb, value] of observations) {
    histogram.series({ verb }).observe(value);
    reference.observe({ verb }, value);
  }
  assert.equal(await ours.metrics(), await theirs.metrics());
  assert.match(await ours.metrics(), /h_bucket\{le="0\.01",verb="get"\} 2\n/);
});

test('a labelled counter counts per label set, whatever the order of the labels object', async () => {
  const registry = new Registry();
  const counter = new LabelledCounter({ name: 'c_total', help: 'help', labelNames: ['verb', 'code'], registry });
  counter.series({ verb: 'get', code: '200' }).inc();
  counter.series({ code: '200', verb: 'get' }).inc();
  counter.series({ verb: 'get', code: '404' }).inc();
  const text = await registry.metrics();
  assert.match(text, /# TYPE c_total counter\n/);
  assert.match(text, /c_total\{verb="get",code="200"\} 2\n/);
  assert.match(text, /c_total\{verb="get",code="404"\} 1/);
});

test('a series is found again, so recording through a kept handle and a new lookup add up', async () => {
  const registry = new Registry();
  const histogram = new LabelledHistogram({ name: 'h', help: 'help', labelNames: ['m'], buckets, registry });
  const kept = histogram.series({ m: 'a' });
  kept.observe(0.2);
  histogram.series({ m: 'a' }).observe(0.3);
  assert.equal(kept, histogram.series({ m: 'a' }));
  assert.match(await registry.metrics(), /h_count\{m="a"\} 2/);
  assert.match(await registry.metrics(), /h_sum\{m="a"\} 0\.5/);
});
