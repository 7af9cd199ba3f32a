/**
 * A real OpenTelemetry Collector for a test: OTLP over HTTP on 127.0.0.1 (a free port), every
 * span written by the file exporter as OTLP JSON lines, which {@link Collector.spans} reads back.
 *
 * ```ts
 * const collector = await startCollector();   // builds it first if needed
 * // … run something with --trace-exporter otlp --trace-endpoint collector.endpoint
 * const spans = await collector.waitForSpans((all) => all.some((s) => s.name === 'sync pod'));
 * await collector.stop();
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../test/support/wait.ts';
import { HarnessError } from '../kube/binaries.ts';
import { freePort, readTail } from '../kube/processes.ts';
import { ensureCollector } from './binary.ts';

/** One span as the collector received it, flattened from OTLP JSON. */
export interface CollectedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, string | number | boolean>;
  /** The resource's attributes (service.name and so on). */
  resource: Record<string, string | number | boolean>;
  status: { code?: number; message?: string };
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpKeyValue {
  key: string;
  value: OtlpValue;
}

function flatten(attributes: OtlpKeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of attributes ?? []) {
    out[key] =
      value.stringValue ??
      (value.intValue !== undefined ? Number(value.intValue) : undefined) ??
      value.doubleValue ??
      value.boolValue ??
      '';
  }
  return out;
}

export class Collector {
  /** The OTLP/HTTP base URL, e.g. `http://127.0.0.1:43189`. */
  readonly endpoint: string;
  readonly #child: ChildProcess;
  readonly #dir: string;
  readonly #logPath: string;

  constructor(endpoint: string, child: ChildProcess, dir: string, logPath: string) {
    this.endpoint = endpoint;
    this.#child = child;
    this.#dir = dir;
    this.#logPath = logPath;
  }

  /** The collector's process id. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Every span written so far. */
  spans(): CollectedSpan[] {
    const path = join(this.#dir, 'spans.jsonl');
    if (!existsSync(path)) return [];
    const spans: CollectedSpan[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      let batch: {
        resourceSpans?: {
          resource?: { attributes?: OtlpKeyValue[] };
          scopeSpans?: { spans?: Record<string, unknown>[] }[];
        }[];
      };
      try {
        batch = JSON.parse(line);
      } catch {
        continue; // a line still being written
      }
      for (const resourceSpans of batch.resourceSpans ?? []) {
        const resource = flatten(resourceSpans.resource?.attributes);
        for (const scope of resourceSpans.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            spans.push({
              traceId: String(span.traceId ?? ''),
              spanId: String(span.spanId ?? ''),
              parentSpanId: String(span.parentSpanId ?? ''),
              name: String(span.name ?? ''),
              kind: Number(span.kind ?? 0),
              startTimeUnixNano: String(span.startTimeUnixNano ?? ''),
              endTimeUnixNano: String(span.endTimeUnixNano ?? ''),
              attributes: flatten(span.attributes as OtlpKeyValue[] | undefined),
              resource,
              status: (span.status as CollectedSpan['status'] | undefined) ?? {},
            });
          }
        }
      }
    }
    return spans;
  }

  /** Waits until `done(spans)` holds for the spans received so far, and returns them. */
  waitForSpans(what: string, done: (spans: CollectedSpan[]) => boolean, timeoutMs = 30_000): Promise<CollectedSpan[]> {
    return waitFor(
      what,
      () => {
        if (this.#child.exitCode !== null)
          throw new HarnessError(`the collector exited:\n${readTail(this.#logPath, 20)}`);
        const spans = this.spans();
        return done(spans) ? spans : undefined;
      },
      { timeoutMs, intervalMs: 200 },
    );
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      const exited = new Promise((resolve) => this.#child.once('exit', resolve));
      this.#child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** Starts a collector of the test's own and waits until its OTLP receiver listens. */
export async function startCollector(log: (line: string) => void = () => {}): Promise<Collector> {
  const binary = await ensureCollector(log);
  const dir = mkdtempSync(join(tmpdir(), 'vk-otelcol-'));
  const port = await freePort();
  // JSON is also YAML: the collector's configuration, loopback only, its own telemetry off (it
  // would listen on :8888).
  const config = {
    receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${port}` } } } },
    exporters: { file: { path: join(dir, 'spans.jsonl'), flush_interval: '100ms' } },
    service: {
      telemetry: { metrics: { level: 'none' }, logs: { level: 'info' } },
      pipelines: { traces: { receivers: ['otlp'], exporters: ['file'] } },
    },
  };
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const logPath = join(dir, 'collector.log');
  const out = openSync(logPath, 'a');
  const child = spawn(binary, ['--config', configPath], { stdio: ['ignore', out, out] });
  closeSync(out);
  const collector = new Collector(`http://127.0.0.1:${port}`, child, dir, logPath);
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new HarnessError(`the collector exited ${code}:\n${readTail(logPath, 20)}`))),
  );
  exited.catch(() => undefined);
  try {
    await Promise.race([
      exited,
      waitFor(
        'the collector ready',
        () => {
          if (child.exitCode !== null)
            throw new HarnessError(`the collector exited ${child.exitCode}:\n${readTail(logPath, 20)}`);
          return /Everything is ready/.test(readFileSync(logPath, 'utf8')) || undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      ),
    ]);
  } catch (error) {
    await collector.stop();
    throw error;
  }
  return collector;
}
