/**
 * The virtual kubelet's own Prometheus metrics (served on `--metrics-addr`), named after
 * client-go's workqueue and rest-client metrics so existing dashboards read them:
 * work-queue depth, adds, retries and latencies; sync duration; API requests by verb and code;
 * provider call latency and errors.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { type RequestCompletedMessage, requestChannel } from '../kube/client.ts';
import type { WorkQueue, WorkQueueMetrics } from '../kube/work-queue.ts';
import type { Provider } from '../provider/contracts.ts';

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class VirtualKubeletMetrics {
  readonly registry = new Registry();
  readonly #queueAdds = new Counter({
    name: 'workqueue_adds_total',
    help: 'Keys added to a work queue',
    labelNames: ['name'],
    registers: [this.registry],
  });
  readonly #queueRetries = new Counter({
    name: 'workqueue_retries_total',
    help: 'Keys retried after a failure',
    labelNames: ['name'],
    registers: [this.registry],
  });
  readonly #queueWait = new Histogram({
    name: 'workqueue_queue_duration_seconds',
    help: 'Seconds a key waits in the queue before a worker takes it',
    labelNames: ['name'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly #queueWork = new Histogram({
    name: 'workqueue_work_duration_seconds',
    help: 'Seconds a worker spends syncing one key',
    labelNames: ['name'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly #apiRequests = new Counter({
    name: 'rest_client_requests_total',
    help: 'Kubernetes API requests by verb, resource and HTTP code (0: no response)',
    labelNames: ['verb', 'resource', 'code'],
    registers: [this.registry],
  });
  readonly #apiLatency = new Histogram({
    name: 'rest_client_request_duration_seconds',
    help: 'Kubernetes API request latency by verb',
    labelNames: ['verb', 'resource'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly #providerLatency = new Histogram({
    name: 'virtual_kubelet_provider_call_duration_seconds',
    help: 'Provider call latency by method',
    labelNames: ['method'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly #providerErrors = new Counter({
    name: 'virtual_kubelet_provider_call_errors_total',
    help: 'Provider calls that failed, by method',
    labelNames: ['method'],
    registers: [this.registry],
  });
  /**
   * The labelled series, looked up once per label set: prom-client hashes the labels object on
   * every `inc`/`observe`, a measurable cost at thousands of requests a second.
   */
  readonly #requestSeries = new Map<string, { count: { inc(): void }; latency: { observe(v: number): void } }>();
  readonly #queueSeries = new Map<
    string,
    {
      adds: { inc(): void };
      retries: { inc(): void };
      wait: { observe(v: number): void };
      work: { observe(v: number): void };
    }
  >();
  readonly #onRequest = (message: unknown) => {
    const m = message as RequestCompletedMessage;
    const key = `${m.verb} ${m.resource} ${m.subresource ?? ''} ${m.code}`;
    let series = this.#requestSeries.get(key);
    if (!series) {
      const resource = m.subresource ? `${m.resource}/${m.subresource}` : m.resource;
      series = {
        count: this.#apiRequests.labels({ verb: m.verb, resource, code: String(m.code) }),
        latency: this.#apiLatency.labels({ verb: m.verb, resource }),
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
        adds: this.#queueAdds.labels({ name }),
        retries: this.#queueRetries.labels({ name }),
        wait: this.#queueWait.labels({ name }),
        work: this.#queueWork.labels({ name }),
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
    const providerSeries = new Map<string, ReturnType<typeof latency.labels>>();
    return new Proxy(provider, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function' || typeof property !== 'string') return value;
        const method = property;
        return function instrumented(this: unknown, ...args: unknown[]) {
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (!(result instanceof Promise)) return result;
          let series = providerSeries.get(method);
          if (!series) {
            series = latency.labels({ method });
            providerSeries.set(method, series);
          }
          const end = series.startTimer();
          return result.then(
            (v) => {
              end();
              return v;
            },
            (error: unknown) => {
              end();
              errors.inc({ method });
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
