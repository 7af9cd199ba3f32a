/**
 * Counters and histograms for the hot paths (every API request, queue key and provider call),
 * served through a prom-client Registry beside its own metrics. prom-client builds a hash string of
 * the labels object on every `inc`/`observe`, even through `labels()`: at thousands of calls a second
 * that was ≈ 3 % of the process's CPU in a 10 000-pod burst. Here a label set is resolved to its
 * series once (`series(...)`), and recording is a number added to a field.
 */
import type { Metric, Registry } from 'prom-client';

export interface CounterSeries {
  inc(): void;
}

export interface HistogramSeries {
  observe(value: number): void;
}

interface ExportedValue {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/** What a Registry reads from a metric when it is scraped (prom-client's `get()` contract). */
interface ExportedMetric {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: ExportedValue[];
}

abstract class LabelledMetric<S> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum' as const;
  readonly #labelNames: readonly string[];
  /** Series by their label values joined with NUL (a byte label values cannot hold). */
  readonly #series = new Map<string, { labels: Record<string, string>; series: S }>();

  constructor(options: { name: string; help: string; labelNames: readonly string[]; registry: Registry }) {
    this.name = options.name;
    this.help = options.help;
    this.#labelNames = options.labelNames;
    // The Registry takes any object with a name and get(); its type lists prom-client's own classes.
    options.registry.registerMetric(this as unknown as Metric);
  }

  /** The series of these label values, made on first use; keep it and record through it. */
  series(labels: Record<string, string>): S {
    const key = this.#labelNames.map((name) => labels[name] ?? '').join('\0');
    let entry = this.#series.get(key);
    if (!entry) {
      const own = Object.fromEntries(this.#labelNames.map((name) => [name, labels[name] ?? '']));
      entry = { labels: own, series: this.newSeries() };
      this.#series.set(key, entry);
    }
    return entry.series;
  }

  protected abstract newSeries(): S;

  protected abstract export(labels: Record<string, string>, series: S, into: ExportedValue[]): void;

  protected abstract get type(): ExportedMetric['type'];

  async get(): Promise<ExportedMetric> {
    const values: ExportedValue[] = [];
    for (const { labels, series } of this.#series.values()) this.export(labels, series, values);
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

class Count implements CounterSeries {
  value = 0;
  inc(): void {
    this.value += 1;
  }
}

export class LabelledCounter extends LabelledMetric<CounterSeries> {
  protected get type() {
    return 'counter' as const;
  }

  protected newSeries(): CounterSeries {
    return new Count();
  }

  protected export(labels: Record<string, string>, series: CounterSeries, into: ExportedValue[]): void {
    into.push({ labels, value: (series as Count).value });
  }
}

class Buckets implements HistogramSeries {
  /** Observations per bucket, not cumulative; the last slot counts those above every bound. */
  readonly counts: number[];
  sum = 0;
  count = 0;
  readonly #bounds: readonly number[];

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    let i = 0;
    while (i < this.#bounds.length && value > (this.#bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count += 1;
  }
}

export class LabelledHistogram extends LabelledMetric<HistogramSeries> {
  readonly #bounds: readonly number[];

  constructor(options: {
    name: string;
    help: string;
    labelNames: readonly string[];
    buckets: readonly number[];
    registry: Registry;
  }) {
    super(options);
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
  }

  protected get type() {
    return 'histogram' as const;
  }

  protected newSeries(): HistogramSeries {
    return new Buckets(this.#bounds);
  }

  protected export(labels: Record<string, string>, series: HistogramSeries, into: ExportedValue[]): void {
    const buckets = series as Buckets;
    const bucketName = `${this.name}_bucket`;
    let cumulative = 0;
    this.#bounds.forEach((bound, i) => {
      cumulative += buckets.counts[i] as number;
      into.push({ metricName: bucketName, labels: { le: bound, ...labels }, value: cumulative });
    });
    into.push({ metricName: bucketName, labels: { le: '+Inf', ...labels }, value: buckets.count });
    into.push({ metricName: `${this.name}_sum`, labels, value: buckets.sum });
    into.push({ metricName: `${this.name}_count`, labels, value: buckets.count });
  }
}
