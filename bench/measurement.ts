/**
 * What the benchmark measures besides pod latencies: a process's memory and CPU from /proc, the
 * API server's request counters, and the percentiles of a sample.
 */
import { readFileSync } from 'node:fs';
import type { ApiClient } from './api.ts';

/** Clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on every Linux we run on). */
const CLOCK_TICKS = 100;

/** One reading of a process. */
export interface ProcessReading {
  /** Milliseconds since the run started. */
  atMs: number;
  rssBytes: number;
  /** Peak resident set size so far (VmHWM). */
  peakRssBytes: number;
  /** User + system CPU seconds since the process started. */
  cpuSeconds: number;
}

/** Reads /proc/<pid>; undefined when the process is gone. */
export function readProcess(pid: number): Omit<ProcessReading, 'atMs'> | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    // The command name in parentheses may contain spaces: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM'), cpuSeconds: (utime + stime) / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

/** Samples a process every `intervalMs` until stopped; keeps the series for the report. */
export class ProcessSampler {
  readonly pid: number;
  readonly samples: ProcessReading[] = [];
  readonly #origin: number;
  #timer: NodeJS.Timeout | undefined;
  #first: Omit<ProcessReading, 'atMs'> | undefined;

  constructor(pid: number, origin: number, intervalMs = 1000) {
    this.pid = pid;
    this.#origin = origin;
    this.#first = readProcess(pid);
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
    this.#timer.unref();
  }

  sample(): ProcessReading | undefined {
    const reading = readProcess(this.pid);
    if (!reading) return undefined;
    const entry = { atMs: performance.now() - this.#origin, ...reading };
    this.samples.push(entry);
    return entry;
  }

  /** Stops sampling; returns peak RSS and the CPU seconds used while sampled. */
  stop(): { peakRssBytes: number; cpuSeconds: number; lastRssBytes: number } {
    clearInterval(this.#timer);
    this.sample();
    const last = this.samples.at(-1);
    return {
      peakRssBytes: last?.peakRssBytes ?? 0,
      cpuSeconds: last && this.#first ? last.cpuSeconds - this.#first.cpuSeconds : 0,
      lastRssBytes: last?.rssBytes ?? 0,
    };
  }
}

/** `apiserver_request_total` summed by `VERB resource[/subresource]`. */
export type RequestTotals = Record<string, number>;

/** Scrapes kube-apiserver's /metrics (needs an identity allowed to read it: the admin). */
export async function scrapeApiserverRequests(admin: ApiClient): Promise<RequestTotals> {
  const response = await admin.call('GET', '/metrics');
  const totals: RequestTotals = {};
  for (const line of response.text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries(
      [...line.slice(line.indexOf('{') + 1, line.lastIndexOf('}')).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [
        m[1],
        m[2],
      ]),
    );
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const resource = labels.subresource ? `${labels.resource}/${labels.subresource}` : (labels.resource ?? '');
    const key = `${labels.verb} ${resource}`;
    totals[key] = (totals[key] ?? 0) + value;
  }
  return totals;
}

/**
 * What an implementation counted of its own requests (cumulative since it started): answers keyed
 * `VERB resource[/subresource] CODE` in the API server's verb names (code 0: no answer), watches
 * left out, and how many requests it has not had an answer to yet.
 */
export interface OwnRequests {
  answers: RequestTotals;
  pending: number;
}

/** rest_client_requests_total's `verb` label (the client's verbs) in `apiserver_request_total`'s names. */
const CLIENT_VERBS: Record<string, string> = {
  get: 'GET',
  list: 'LIST',
  create: 'POST',
  update: 'PUT',
  patch: 'PATCH',
  delete: 'DELETE',
  deletecollection: 'DELETECOLLECTION',
};

/**
 * Reads our virtual kubelet's own /metrics: `rest_client_requests_total` (by verb, resource and
 * code) and `virtual_kubelet_kube_client_pending_requests`.
 */
export function parseOwnRequests(metricsText: string): OwnRequests {
  const answers: RequestTotals = {};
  let pending = 0;
  for (const line of metricsText.split('\n')) {
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('virtual_kubelet_kube_client_pending_requests ')) pending = value;
    if (!line.startsWith('rest_client_requests_total{')) continue;
    const labels = Object.fromEntries(
      [...line.slice(line.indexOf('{') + 1, line.lastIndexOf('}')).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [
        m[1],
        m[2],
      ]),
    );
    const verb = CLIENT_VERBS[labels.verb ?? ''];
    if (!verb) continue; // watches
    const key = `${verb} ${labels.resource} ${labels.code}`;
    answers[key] = (answers[key] ?? 0) + value;
  }
  return { answers, pending };
}

/**
 * Own answers (already a difference over a phase) by `VERB resource`: `sent` counts every request
 * but the 429s, which the server refused for flow control and the client retried, counted apart.
 */
export function splitThrottled(answers: RequestTotals): { sent: RequestTotals; throttled: RequestTotals } {
  const sent: RequestTotals = {};
  const throttled: RequestTotals = {};
  for (const [key, value] of Object.entries(answers)) {
    const cut = key.lastIndexOf(' ');
    const target = key.slice(cut + 1) === '429' ? throttled : sent;
    const request = key.slice(0, cut);
    target[request] = (target[request] ?? 0) + value;
  }
  return { sent, throttled };
}

/** after − before, dropping zeros. */
export function diffTotals(before: RequestTotals, after: RequestTotals): RequestTotals {
  const result: RequestTotals = {};
  for (const [key, value] of Object.entries(after)) {
    const delta = value - (before[key] ?? 0);
    if (delta > 0) result[key] = delta;
  }
  return result;
}

/** a − b per key, never below zero (the benchmark's own requests taken out of the API server's totals). */
export function subtractTotals(a: RequestTotals, b: ReadonlyMap<string, number> | RequestTotals): RequestTotals {
  const entries = b instanceof Map ? [...b.entries()] : Object.entries(b);
  const result: RequestTotals = { ...a };
  for (const [key, value] of entries) {
    if (result[key] === undefined) continue;
    result[key] = Math.max(0, result[key] - value);
    if (result[key] === 0) delete result[key];
  }
  return result;
}

/** Sums request totals by verb only (what the table shows). */
export function byVerb(totals: RequestTotals): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [key, value] of Object.entries(totals)) {
    const verb = key.split(' ')[0] ?? key;
    result[verb] = (result[verb] ?? 0) + value;
  }
  return result;
}

/** p50/p90/p99/max of a sample, in its unit; all zero for an empty sample. */
export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles (the definition SIG-scalability's SLIs use). */
export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) return { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
  const sum = sorted.reduce((total, v) => total + v, 0);
  return {
    count: sorted.length,
    p50: rank(0.5),
    p90: rank(0.9),
    p99: rank(0.99),
    max: sorted[sorted.length - 1] ?? 0,
    mean: sum / sorted.length,
  };
}
