/**
 * Podman's event stream (`GET /libpod/events`), so the provider learns of starts, deaths and
 * OOM kills as they happen instead of polling.
 *
 * What Podman 4.3 sends: one JSON document per line, Docker's event shape —
 * `{"status":"died","id":"…","from":"image","Type":"container","Action":"died","Actor":{"ID":"…",
 * "Attributes":{"name":"…","image":"…","podId":"…","containerExitCode":"137", <container labels>}},
 * "time":<unix s>,"timeNano":<unix ns>}`. `containerExitCode` is present on every container
 * event but only meaningful for `died` (and `exec_died`). `podId` is empty on `died` events
 * (they are recorded without it): match them by container ID or label. Container events carry the
 * container's labels as attributes (that is what the `label` filter matches); pod events
 * (`create`, `start`, `stop`, `kill`, `remove` of Type `pod`) carry none. The response headers
 * come at once, before any event; with `since` (or `until`) Podman replays the event log from
 * that time first, which also closes the gap between a subscription and the actions after it.
 * With the `file` event logger the stream is a tail of `<tmpdir>/events/events.log`.
 */
import { brokenStreamError, PodmanUnavailableError } from './errors.ts';
import { parseJsonLine, textLines } from './json-stream.ts';
import type { PodmanTransport } from './transport.ts';

/** One event. */
export interface PodmanEvent {
  /** `container`, `pod`, `image`, `volume`, `network`, `system`. */
  type: string;
  /** `create`, `init`, `start`, `died`, `oom`, `exec`, `exec_died`, `stop`, `kill`, `remove`, `cleanup`… */
  action: string;
  /** The object's ID. */
  id: string;
  /** The object's name. */
  name: string;
  /** The container's image, as named at create. */
  image: string;
  /** The pod a container belongs to ('' when none). */
  podId: string;
  /** The exit code, for `died` and `exec_died` events. */
  exitCode: number | undefined;
  /** The remaining attributes: a container's labels (and `execID` for exec events). */
  attributes: Record<string, string>;
  time: Date;
  /** Unix nanoseconds, for ordering events within a second. */
  timeNano: bigint;
}

export interface EventFilters {
  /** Object types, e.g. `['container', 'pod']`. */
  type?: string[];
  /** Actions, e.g. `['start', 'died', 'oom']`. */
  event?: string[];
  /** Containers' labels: `{ key: value }` (value undefined matches the key alone). */
  label?: Record<string, string | undefined>;
  container?: string[];
  pod?: string[];
}

export interface EventsOptions {
  filters?: EventFilters;
  /** Replay events from this instant before streaming new ones. */
  since?: Date;
  /** Stop at this instant (with `stream: false`, the replay ends there). */
  until?: Date;
  /** Keep streaming new events (default true). With false, the replay ends the iteration. */
  stream?: boolean;
  signal?: AbortSignal | undefined;
}

interface RawEvent {
  status?: string;
  id?: string;
  from?: string;
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> | null };
  time?: number;
  timeNano?: number;
}

/** The `filters` query parameter. */
export function eventFilterQuery(filters: EventFilters | undefined): string | undefined {
  if (!filters) return undefined;
  const query: Record<string, string[]> = {};
  if (filters.type?.length) query.type = filters.type;
  if (filters.event?.length) query.event = filters.event;
  if (filters.container?.length) query.container = filters.container;
  if (filters.pod?.length) query.pod = filters.pod;
  const labels = Object.entries(filters.label ?? {});
  if (labels.length > 0) query.label = labels.map(([key, value]) => (value === undefined ? key : `${key}=${value}`));
  return Object.keys(query).length > 0 ? JSON.stringify(query) : undefined;
}

/** Decodes one event line. */
export function eventFromRaw(raw: RawEvent, line?: string): PodmanEvent {
  const attributes = { ...(raw.Actor?.Attributes ?? {}) };
  const action = raw.Action ?? raw.status ?? '';
  const name = attributes.name ?? '';
  const image = attributes.image ?? raw.from ?? '';
  const podId = attributes.podId ?? '';
  const exitText = attributes.containerExitCode;
  delete attributes.name;
  delete attributes.image;
  delete attributes.podId;
  delete attributes.containerExitCode;
  // timeNano exceeds 2^53: JSON.parse rounds it, so the exact value is taken from the text.
  const nanoText = line ? /"timeNano":(\d+)/.exec(line)?.[1] : undefined;
  const timeNano = nanoText ? BigInt(nanoText) : BigInt(Math.round(raw.timeNano ?? (raw.time ?? 0) * 1e9));
  return {
    type: raw.Type ?? '',
    action,
    id: raw.Actor?.ID || raw.id || '',
    name,
    image,
    podId,
    exitCode: (action === 'died' || action === 'exec_died') && exitText !== undefined ? Number(exitText) : undefined,
    attributes,
    time: new Date(Number(timeNano / 1_000_000n)),
    timeNano,
  };
}

/**
 * Yields events as they happen. Aborting `signal` ends the iteration quietly. If the
 * connection breaks, or a live stream ends (the service stopped), it throws a
 * {@link PodmanUnavailableError}: reconnecting (with `since` set to the last event's time) is
 * the caller's business.
 */
export async function* events(transport: PodmanTransport, options: EventsOptions = {}): AsyncGenerator<PodmanEvent> {
  const live = options.stream ?? true;
  let body: Awaited<ReturnType<PodmanTransport['request']>>['body'] | undefined;
  try {
    const response = await transport.request({
      method: 'GET',
      path: '/libpod/events',
      query: {
        stream: live,
        filters: eventFilterQuery(options.filters),
        since: options.since?.toISOString(),
        until: options.until?.toISOString(),
      },
      signal: options.signal,
      stream: true,
      what: 'watching Podman events',
    });
    body = response.body;
    for await (const line of textLines(body)) yield eventFromRaw(parseJsonLine<RawEvent>(line), line);
  } catch (error) {
    // Aborting after the answer arrived surfaces as the body's `aborted` (ECONNRESET), not an AbortError.
    if (options.signal?.aborted) return;
    throw brokenStreamError(error, transport.description, 'watching Podman events');
  } finally {
    body?.destroy();
  }
  if (live && !options.signal?.aborted) {
    throw new PodmanUnavailableError(transport.description, 'the Podman event stream ended: the service stopped');
  }
}
