/**
 * The `--trace-*` flags. The Go binary's four keep their meaning where ours can: `--trace-exporter`
 * (a list; Go's exporters are OpenCensus ones, ours is `otlp`), `--trace-sample-rate` (`always`,
 * `never` or a percentage), `--trace-service-name` and `--trace-tag key=value` (with the same
 * reserved keys). `--trace-endpoint` is new: where OTLP goes.
 */
import { ConfigError } from '../errors.ts';

/** What the CLI needs to start tracing. */
export interface TracingConfig {
  exporter: 'otlp';
  /** The OTLP/HTTP traces URL; undefined: the SDK's default (OTEL_EXPORTER_OTLP_* variables, else localhost:4318). */
  endpoint: string | undefined;
  /** Fraction of traces kept, 0 to 1. */
  sampleRatio: number;
  serviceName: string;
  /** `--trace-tag`s. */
  tags: Record<string, string>;
}

/** The Go binary's OpenCensus exporters, which have no counterpart here. */
const GO_EXPORTERS = ['jaeger', 'ocagent', 'zpages'];
/** Tags the Go binary sets itself and refuses from the user; we set them too. */
export const RESERVED_TRACE_TAGS = ['operatingSystem', 'provider', 'nodeName'];

export interface TraceFlagValues {
  exporters: string[];
  endpoint: string | undefined;
  sampleRate: string | undefined;
  serviceName: string | undefined;
  tags: string[];
}

/** `always`, `never` or a percentage 0-100, as the Go binary reads `--trace-sample-rate`; default always. */
export function parseSampleRate(text: string | undefined): number {
  if (text === undefined || text === '') return 1;
  const lower = text.toLowerCase();
  if (lower === 'always') return 1;
  if (lower === 'never') return 0;
  const rate = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || rate > 100) {
    throw new ConfigError(`--trace-sample-rate must be always, never or a percentage from 0 to 100, got "${text}"`);
  }
  return rate / 100;
}

/** `http(s)://host:port` gets OTLP's traces path; a URL with a path is taken as the traces URL itself. */
export function otlpTracesUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`--trace-endpoint must be an http:// or https:// URL, got "${text}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`--trace-endpoint must be an http:// or https:// URL (OTLP over HTTP), got "${text}"`);
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/traces';
  return url.toString();
}

/** `a=b,c=d` and repeated flags, as pflag's StringToString reads `--trace-tag`. */
export function parseTraceTags(values: readonly string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const value of values) {
    for (const pair of value.split(',')) {
      if (pair === '') continue;
      const equals = pair.indexOf('=');
      if (equals <= 0) throw new ConfigError(`--trace-tag must be key=value, got "${pair}"`);
      const key = pair.slice(0, equals);
      if (RESERVED_TRACE_TAGS.includes(key)) {
        throw new ConfigError(
          `--trace-tag ${key} is reserved (the virtual kubelet sets ${RESERVED_TRACE_TAGS.join(', ')})`,
        );
      }
      tags[key] = pair.slice(equals + 1);
    }
  }
  return tags;
}

/** The tracing configuration (undefined: off), and warnings for what is accepted but has no effect. */
export function parseTraceFlags(values: TraceFlagValues, warnings: string[]): TracingConfig | undefined {
  const exporters = values.exporters.flatMap((v) => v.split(',')).filter((v) => v !== '');
  let otlp = false;
  for (const exporter of exporters) {
    if (exporter === 'otlp') otlp = true;
    else if (GO_EXPORTERS.includes(exporter)) {
      warnings.push(
        `--trace-exporter ${exporter} (an OpenCensus exporter of the Go virtual-kubelet) is not available here and is ignored: use --trace-exporter otlp (Jaeger and most tracing backends receive OTLP)`,
      );
    } else {
      throw new ConfigError(`--trace-exporter must be otlp, got "${exporter}"`);
    }
  }
  // Checked even when off, so a mistake shows before tracing is turned on.
  const sampleRatio = parseSampleRate(values.sampleRate);
  const tags = parseTraceTags(values.tags);
  const endpoint = values.endpoint ? otlpTracesUrl(values.endpoint) : undefined;
  if (!otlp) {
    const given = [
      values.endpoint !== undefined && '--trace-endpoint',
      values.sampleRate !== undefined && '--trace-sample-rate',
      values.serviceName !== undefined && '--trace-service-name',
      values.tags.length > 0 && '--trace-tag',
    ].filter((flag): flag is string => Boolean(flag));
    if (given.length > 0) warnings.push(`${given.join(', ')} without --trace-exporter otlp: tracing is off`);
    return undefined;
  }
  return {
    exporter: 'otlp',
    endpoint,
    sampleRatio,
    serviceName: values.serviceName || 'virtual-kubelet',
    tags,
  };
}
