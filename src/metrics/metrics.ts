/**
 * The virtual kubelet's own Prometheus metrics (served on `--metrics-addr`), named after
 * client-go's workqueue and rest-client metrics so existing dashboards read them:
 * work-queue depth, adds, retries and latencies; sync duration; API requests by verb and code;
 * provider call latency and errors.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { type RequestCompletedMessage, requestChannel } from '../kube/client.ts';
import type { WorkQueue, WorkQueueMetrics } from '../kube/work-queue.ts';
import type { Provider } from '../provider/contracts.ts';
import { type CounterSeries, type HistogramSeries, LabelledCounter, LabelledHistogram } from './labelled-series.ts';

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class VirtualKubeletMetrics {
  readonly registry = new Registry();
  readonly #queueAdds = new LabelledCounter({
    name: 'workqueue_adds_total',
    help: 'Keys added to a work queue',
    labelNames: ['name'],
    registry: this.registry,
  });
  readonly #queueRetries = new LabelledCounter({
    name: 'workqueue_retries_total',
    help: 'Keys retried after a failure',
    labelNames: ['name'],
    registry: this.registry,
  });
  readonly #queueWait = new LabelledHistogram({
    name: 'workqueue_queue_duration_seconds',
    help: 'Seconds a key waits in the queue before a worker takes it',
    labelNames: ['name'],
    buckets: LATENCY_BUCKETS,
    registry: this.registry,
  });
  readonly #queueWork = new LabelledHistogram({
    name: 'workqueue_work_duration_seconds',
    help: 'Seconds a worker spends syncing one key',
    labelNames: ['name'],
    buckets: LATENCY_BUCKETS,
    registry: this.registry,
  });
  readonly #apiRequests = new LabelledCounter({
    name: 'rest_client_requests_total',
    help: 'Kubernetes API requests by verb, resource and HTTP code (0: no response)',
    labelNames: ['verb', 'resource', 'code'],
    registry: this.registry,
  });
  readonly #apiLatency = new LabelledHistogram({
    name: 'rest_client_request_duration_seconds',
    help: 'Kubernetes API request latency by verb',
    labelNames: ['verb', 'resource'],
    buckets: LATENCY_BUCKETS,
    registry: this.registry,
  });
  readonly #providerLatency = new LabelledHistogram({
    name: 'virtual_kubelet_provider_call_duration_seconds',
    help: 'Provider call latency by method',
    labelNames: ['method'],
    buckets: LATENCY_BUCKETS,
    registry: this.registry,
  });
  readonly #providerErrors = new LabelledCounter({
    name: 'virtual_kubelet_provider_call_errors_total',
    help: 'Provider calls that failed, by method',
    labelNames: ['method'],
    registry: this.registry,
  });
  /** The series of each request kind, found by one string key instead of a labels object. */
  readonly #requestSeries = new Map<string, { count: CounterSeries; latency: HistogramSeries }>();
  readonly #queueSeries = new Map<
    string,
    { adds: CounterSeries; retries: CounterSeries; wait: HistogramSeries; work: HistogramSeries }
  >();
  readonly #onRequest = (message: unknown) => {
    const m = message as RequestCompletedMessage;
    const key = `${m.verb} ${m.resource} ${m.subresource ?? ''} ${m.code}`;
    let series = this.#requestSeries.get(key);
    if (!series) {
      const resource = m.subresource ? `${m.resource}/${m.subresource}` : m.resource;
      series = {
        count: this.#apiRequests.series({ verb: m.verb, resource, code: String(m.code) }),
        latency: this.#apiLatency.series({ verb: m.verb, resource }),
      };
      this.#requestSeries.set(key, series);
    }
    series.count.inc();
    if (m.verb !== 'watch') series.latency.observe(m.durationSeconds);
  };

  #queue(name: string) {
    let series = this.#queueSeries.get(name);
    if (!series) {
      series = {
        adds: this.#queueAdds.series({ name }),
        retries: this.#queueRetries.series({ name }),
        wait: this.#queueWait.series({ name }),
        work: this.#queueWork.series({ name }),
      };
      this.#queueSeries.set(name, series);
    }
    return series;
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'virtual_kubelet_' });
    subscribe(requestChannel.name, this.#onRequest);
  }

  /** Callbacks for a WorkQueue's options. */
  readonly queueMetrics: WorkQueueMetrics = {
    added: (name) => this.#queue(name).adds.inc(),
    retried: (name) => this.#queue(name).retries.inc(),
    waited: (name, seconds) => this.#queue(name).wait.observe(seconds),
    worked: (name, seconds) => this.#queue(name).work.observe(seconds),
  };

  /** Exposes the queues' depths (ready, delayed and in progress) as gauges labelled by queue, read at scrape time. */
  watchQueues(queues: readonly WorkQueue[]): void {
    const depthGauge = (name: string, help: string, read: (queue: WorkQueue) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['name'],
        registers: [this.registry],
        collect() {
          for (const queue of queues) this.set({ name: queue.name }, read(queue));
        },
      });
    depthGauge('workqueue_depth', 'Keys ready to be processed', (queue) => queue.length);
    depthGauge('workqueue_delayed', 'Keys scheduled for a later retry', (queue) => queue.delayed);
    depthGauge('workqueue_in_progress', 'Keys being processed', (queue) => queue.processing);
  }

  /** A gauge read from a callback at scrape time. */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** Wraps a provider so each call's latency and failures are measured. The wrapper keeps every optional capability. */
  instrument<P extends Provider>(provider: P): P {
    const latency = this.#providerLatency;
    const errors = this.#providerErrors;
    const providerSeries = new Map<string, { latency: HistogramSeries; errors: CounterSeries }>();
    return new Proxy(provider, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function' || typeof property !== 'string') return value;
        const method = property;
        return function instrumented(this: unknown, ...args: unknown[]) {
          const started = performance.now();
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (!(result instanceof Promise)) return result;
          let series = providerSeries.get(method);
          if (!series) {
            series = { latency: latency.series({ method }), errors: errors.series({ method }) };
            providerSeries.set(method, series);
          }
          const { latency: seconds, errors: failures } = series;
          return result.then(
            (v) => {
              seconds.observe((performance.now() - started) / 1000);
              return v;
            },
            (error: unknown) => {
              seconds.observe((performance.now() - started) / 1000);
              failures.inc();
              throw error;
            },
          );
        };
      },
    });
  }

  close(): void {
    unsubscribe(requestChannel.name, this.#onRequest);
  }
}
