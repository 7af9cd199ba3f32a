/**
 * Tracing with OpenTelemetry's SDK, exported over OTLP (HTTP, protobuf). The CLI imports this
 * module only when `--trace-exporter otlp` is given, so without it the SDK is never loaded.
 *
 * The spans, each with the pod's `k8s.namespace.name`, `k8s.pod.name` and `k8s.pod.uid`:
 * - `sync pod` — one sync of a pod by the pod controller (src/tracing/channels.ts);
 *   - `provider <method>` — each provider call made during it (createPod, deletePod, getPod…);
 *   - `kube <verb> <resource>` — each API request made during it;
 * - `write pod status` — one look of the status manager at the pod, a child of the sync that asked
 *   for it (it starts after that sync has ended: the status writes have a queue of their own), or
 *   a trace of its own when the provider's report asked for it;
 *   - `kube patch pods/status`, `kube delete pods` — its API writes.
 *
 * A sync or status look that makes no provider call or API request and does not fail (a resync
 * that finds nothing to do, the echo of our own write) leaves no span. Provider calls and API
 * requests outside pod work (the node's heartbeat, status polling, the kubelet API's log and exec
 * calls) are not traced: they would bury the pods' traces.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  type Attributes,
  type Context,
  DiagLogLevel,
  diag,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { type RequestCompletedMessage, requestChannel } from '../kube/client.ts';
import type { Provider } from '../provider/contracts.ts';
import { type PodWorkMessage, podStatusChannel, podSyncChannel } from './channels.ts';

export interface TracingOptions {
  /** The OTLP/HTTP traces URL; default the SDK's (`OTEL_EXPORTER_OTLP_*` variables, else localhost:4318). */
  endpoint?: string | undefined;
  /** Fraction of traces kept, 0 to 1. */
  sampleRatio: number;
  /** Attributes of every span's resource: `service.name` and the node's. */
  resource: Attributes;
  logger: Logger;
  /** Tests: export here instead of over OTLP. */
  exporter?: SpanExporter;
}

/** Tracing while it runs. */
export interface Tracing {
  /** Wraps a provider so the calls a pod's work makes become child spans. */
  instrument<P extends Provider>(provider: P): P;
  /** Unsubscribes, then exports what is left, waiting at most `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>;
}

/**
 * The pod work running now. Its span opens at the work's first provider call or API request, or
 * at its failure: a sync or status look that finds nothing to do (a resync, the echo of our own
 * write) leaves no span, as Kubernetes' tracing guidelines ask.
 */
interface PodWork {
  name: string;
  pod: Attributes;
  startTime: number;
  /** The parent the span gets when it opens. */
  parent: () => Context;
  /** Called once the span is open (the status write takes its sync's place then). */
  onOpen?: () => void;
  span?: Span;
  context?: Context;
  /**
   * Set when the work is done. A loop started during the work (an informer for the ConfigMaps a
   * pod reads) keeps its async context for good: what it does later is not this pod's work.
   */
  ended: boolean;
}

const TRACER_NAME = 'virtual-kubelet';
/** Export failures are logged at most this often. */
const WARNING_INTERVAL_MS = 60_000;
/** The newest sync span of each pod, for the status write it asks for: at most this many kept. */
const PENDING_SYNC_LIMIT = 20_000;

function podAttributes(message: PodWorkMessage): Attributes {
  const slash = message.key.indexOf('/');
  const attributes: Attributes = {
    'k8s.namespace.name': message.key.slice(0, slash),
    'k8s.pod.name': message.key.slice(slash + 1),
  };
  const uid = message.pod?.metadata?.uid;
  if (uid) attributes['k8s.pod.uid'] = uid;
  return attributes;
}

function sampler(ratio: number): Sampler {
  const root =
    ratio >= 1 ? new AlwaysOnSampler() : ratio <= 0 ? new AlwaysOffSampler() : new TraceIdRatioBasedSampler(ratio);
  return new ParentBasedSampler({ root });
}

/** Starts exporting spans; the caller must `shutdown()` it on exit. */
export function startTracing(options: TracingOptions): Tracing {
  const logger = options.logger;
  // The SDK reports export failures (an unreachable collector) through its diagnostic logger,
  // each a JSON dump of the error with its stack, at every export: one line with the reason, then
  // at most one a minute.
  let lastWarning = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  const warn = (message: string) => {
    const now = Date.now();
    if (now - lastWarning < WARNING_INTERVAL_MS) {
      suppressed++;
      return;
    }
    lastWarning = now;
    const more = suppressed > 0 ? ` (${suppressed} more since the last warning)` : '';
    suppressed = 0;
    logger.warn(
      `tracing: spans not exported to ${options.endpoint ?? 'the OTLP endpoint'}: ${diagnosticReason(message)}${more}`,
    );
  };
  diag.setLogger({ error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
  const exporter = options.exporter ?? new OTLPTraceExporter(options.endpoint ? { url: options.endpoint } : {});
  const provider = new TracerProvider({
    resource: resourceFromAttributes(options.resource),
    sampler: sampler(options.sampleRatio),
    spanProcessors: [
      // A burst of a thousand pods makes several thousand spans in seconds: queue them rather
      // than drop them (the default queue holds 2 048).
      new BatchSpanProcessor({
        exporter,
        maxQueueSize: 16_384,
        maxExportBatchSize: 1_024,
        scheduledDelayMillis: 2_000,
      }),
    ],
  });
  const tracer = provider.getTracer(TRACER_NAME);
  const current = new AsyncLocalStorage<PodWork>();
  const works = new WeakMap<PodWorkMessage, PodWork>();
  const pendingSync = new Map<string, SpanContext>();

  const startWork = (name: string, message: PodWorkMessage, parent: () => Context, onOpen?: () => void): PodWork => {
    const work: PodWork = {
      name,
      pod: podAttributes(message),
      startTime: Date.now(),
      parent,
      ended: false,
      ...(onOpen ? { onOpen } : {}),
    };
    works.set(message, work);
    return work;
  };
  /** Opens the work's span if it is not open yet; returns the context its children go under. */
  const open = (work: PodWork): Context => {
    if (work.context) return work.context;
    const span = tracer.startSpan(
      work.name,
      { kind: SpanKind.INTERNAL, attributes: work.pod, startTime: work.startTime },
      work.parent(),
    );
    work.span = span;
    work.context = trace.setSpan(ROOT_CONTEXT, span);
    work.onOpen?.();
    return work.context;
  };
  /** The pod work running now, if any. */
  const working = (): PodWork | undefined => {
    const work = current.getStore();
    return work && !work.ended ? work : undefined;
  };
  const outer = (): Context => {
    const work = working();
    return work ? open(work) : ROOT_CONTEXT;
  };

  const finish = (message: PodWorkMessage & { error?: unknown }, after?: (work: PodWork) => void) => {
    const work = works.get(message);
    if (!work) return;
    works.delete(message);
    work.ended = true;
    if (message.error !== undefined) {
      open(work);
      failed(work.span as Span, message.error);
    }
    work.span?.end();
    after?.(work);
  };

  const syncStart = (message: PodWorkMessage) => {
    // The parent is read now, in the caller's context (a sync is a trace of its own in practice).
    const parent = outer();
    return startWork('sync pod', message, () => parent);
  };
  const afterSync = (message: PodWorkMessage) => (work: PodWork) => {
    pendingSync.delete(message.key); // re-inserted last, so the oldest entry is the first one
    if (!message.pod || !work.span) return;
    pendingSync.set(message.key, work.span.spanContext());
    if (pendingSync.size > PENDING_SYNC_LIMIT) pendingSync.delete(pendingSync.keys().next().value as string);
  };
  const statusStart = (message: PodWorkMessage) => {
    const caller = outer();
    return startWork(
      'write pod status',
      message,
      () => {
        const sync = pendingSync.get(message.key);
        return sync ? trace.setSpanContext(ROOT_CONTEXT, sync) : caller;
      },
      // The sync's request is answered: a later write was asked for by someone else.
      () => pendingSync.delete(message.key),
    );
  };

  // `end` comes right after the call returns (it ends the span only if the call threw at once);
  // `asyncEnd` when its promise settles, after `error` for a rejection.
  const syncHandlers = {
    start: () => {},
    end: (message: PodWorkMessage & { error?: unknown }) => {
      if (message.error !== undefined) finish(message, afterSync(message));
    },
    asyncStart: () => {},
    asyncEnd: (message: PodWorkMessage) => finish(message, afterSync(message)),
    error: () => {},
  };
  const statusHandlers = {
    start: () => {},
    end: (message: PodWorkMessage & { error?: unknown }) => {
      if (message.error !== undefined) finish(message);
    },
    asyncStart: () => {},
    asyncEnd: (message: PodWorkMessage) => finish(message),
    error: () => {},
  };
  podSyncChannel.start.bindStore(current, syncStart);
  podStatusChannel.start.bindStore(current, statusStart);
  podSyncChannel.subscribe(syncHandlers);
  podStatusChannel.subscribe(statusHandlers);

  const onRequest = (raw: unknown) => {
    const parent = working();
    if (!parent) return;
    const message = raw as RequestCompletedMessage;
    if (message.verb === 'watch') return;
    const resource = message.subresource ? `${message.resource}/${message.subresource}` : message.resource;
    const span = tracer.startSpan(
      `kube ${message.verb} ${resource}`,
      {
        kind: SpanKind.CLIENT,
        startTime: message.startedAt,
        attributes: {
          ...parent.pod,
          'http.request.method': message.method,
          'url.path': message.path,
          ...(message.code ? { 'http.response.status_code': message.code } : {}),
        },
      },
      open(parent),
    );
    if (message.code === 0 || message.code >= 400) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: message.code ? `HTTP ${message.code}` : 'no response' });
    }
    span.end(message.startedAt + message.durationSeconds * 1000);
  };
  subscribe(requestChannel.name, onRequest);

  return {
    instrument<P extends Provider>(target: P): P {
      return new Proxy(target, {
        get(object, property, receiver) {
          const value = Reflect.get(object, property, receiver);
          if (typeof value !== 'function' || typeof property !== 'string') return value;
          return function traced(this: unknown, ...args: unknown[]) {
            const parent = working();
            if (!parent) return (value as (...a: unknown[]) => unknown).apply(object, args);
            const span = tracer.startSpan(
              `provider ${property}`,
              { kind: SpanKind.INTERNAL, attributes: { ...parent.pod, ...podOf(args[0]) } },
              open(parent),
            );
            let result: unknown;
            try {
              result = (value as (...a: unknown[]) => unknown).apply(object, args);
            } catch (error) {
              failed(span, error);
              span.end();
              throw error;
            }
            if (!(result instanceof Promise)) {
              span.end();
              return result;
            }
            return result.then(
              (settled) => {
                span.end();
                return settled;
              },
              (error: unknown) => {
                failed(span, error);
                span.end();
                throw error;
              },
            );
          };
        },
      });
    },
    async shutdown(timeoutMs: number): Promise<void> {
      unsubscribe(requestChannel.name, onRequest);
      podSyncChannel.unsubscribe(syncHandlers);
      podStatusChannel.unsubscribe(statusHandlers);
      podSyncChannel.start.unbindStore(current);
      podStatusChannel.start.unbindStore(current);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          logger.warn(`tracing: spans not exported within ${timeoutMs} ms of the stop are dropped`);
          resolve();
        }, timeoutMs);
      });
      try {
        await Promise.race([provider.shutdown(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** The SDK's message, or the `message` of the error it dumped as JSON. */
function diagnosticReason(message: string): string {
  try {
    const parsed = JSON.parse(message) as { message?: unknown };
    if (typeof parsed?.message === 'string') return parsed.message;
  } catch {
    // not JSON: the SDK's own sentence
  }
  return message;
}

/** The uid of a pod passed to a provider call (createPod, deletePod…), which may differ from the API's. */
function podOf(argument: unknown): Attributes {
  const uid = (argument as Pod | undefined)?.metadata?.uid;
  return typeof uid === 'string' && uid ? { 'k8s.pod.uid': uid } : {};
}

function failed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}
