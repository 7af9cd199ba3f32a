/**
 * The Nomad HTTP API calls the provider makes, typed (see https://developer.hashicorp.com/nomad/api-docs):
 * jobs (register with an index check, stop, purge), allocations, nodes, the leader, allocation
 * stats and signals, task logs, the event stream, and the exec WebSocket's address.
 */
import type { IncomingMessage } from 'node:http';
import { NomadApiError, type NomadEndpoint, NomadTransport } from './transport.ts';
import type {
  NomadAllocation,
  NomadAllocStats,
  NomadEvent,
  NomadJob,
  NomadJobStub,
  NomadNode,
  NomadRegisterResponse,
} from './types.ts';

export { NomadApiError, NomadUnavailableError } from './transport.ts';

/** Nomad's answer when `EnforceIndex` finds the job already registered. */
export function isJobExists(error: unknown): boolean {
  return error instanceof NomadApiError && /job already exists|Enforcing job modify index/i.test(error.message);
}

export function isNomadNotFound(error: unknown): boolean {
  return error instanceof NomadApiError && error.statusCode === 404;
}

export class NomadClient {
  readonly transport: NomadTransport;

  constructor(endpoint: NomadEndpoint) {
    this.transport = new NomadTransport(endpoint);
  }

  get address(): string {
    return this.transport.endpoint.address;
  }

  /** `host:port` of the leader; throws Nomad's "No cluster leader" (500) when there is none. */
  async leader(signal?: AbortSignal): Promise<string> {
    const { value } = await this.transport.json<string>('GET', '/v1/status/leader', { ...(signal ? { signal } : {}) });
    return value;
  }

  async nodes(signal?: AbortSignal): Promise<NomadNode[]> {
    // `resources=true` adds NodeResources and ReservedResources to the stubs.
    const { value } = await this.transport.json<NomadNode[]>('GET', '/v1/nodes', {
      query: { resources: true },
      ...(signal ? { signal } : {}),
    });
    return value;
  }

  /**
   * Registers a job. With `create`, only if no job with that ID exists (Nomad's `EnforceIndex`
   * with index 0): a job is never submitted twice, whatever races a restart causes.
   */
  async registerJob(job: NomadJob, options: { create: boolean; signal?: AbortSignal }): Promise<NomadRegisterResponse> {
    const { value } = await this.transport.json<NomadRegisterResponse>('PUT', '/v1/jobs', {
      body: { Job: job, ...(options.create ? { EnforceIndex: true, JobModifyIndex: 0 } : {}) },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return value;
  }

  async job(id: string, signal?: AbortSignal): Promise<NomadJob | undefined> {
    try {
      const { value } = await this.transport.json<NomadJob>('GET', `/v1/job/${encodeURIComponent(id)}`, {
        ...(signal ? { signal } : {}),
      });
      return value;
    } catch (error) {
      if (isNomadNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Jobs whose ID starts with `prefix`, with their Meta; and the index to watch from. */
  async jobs(prefix: string, signal?: AbortSignal): Promise<{ jobs: NomadJobStub[]; index: number }> {
    const { value, index } = await this.transport.json<NomadJobStub[]>('GET', '/v1/jobs', {
      query: { prefix, meta: true },
      ...(signal ? { signal } : {}),
    });
    return { jobs: value, index };
  }

  /** Stops the job: its allocations get their kill signal and `KillTimeout`. The job stays, stopped. */
  async stopJob(id: string, signal?: AbortSignal): Promise<void> {
    await this.#deleteJob(id, false, signal);
  }

  /** Removes the job and its history from Nomad (stopping what still runs). */
  async purgeJob(id: string, signal?: AbortSignal): Promise<void> {
    await this.#deleteJob(id, true, signal);
  }

  async #deleteJob(id: string, purge: boolean, signal?: AbortSignal): Promise<void> {
    try {
      await this.transport.request('DELETE', `/v1/job/${encodeURIComponent(id)}`, {
        query: purge ? { purge: true } : {},
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (!isNomadNotFound(error)) throw error;
    }
  }

  /** The job's allocations (list stubs: no NetworkStatus). */
  async jobAllocations(id: string, signal?: AbortSignal): Promise<NomadAllocation[]> {
    try {
      const { value } = await this.transport.json<NomadAllocation[]>(
        'GET',
        `/v1/job/${encodeURIComponent(id)}/allocations`,
        { ...(signal ? { signal } : {}) },
      );
      return value;
    } catch (error) {
      if (isNomadNotFound(error)) return [];
      throw error;
    }
  }

  async allocation(id: string, signal?: AbortSignal): Promise<NomadAllocation | undefined> {
    try {
      const { value } = await this.transport.json<NomadAllocation>('GET', `/v1/allocation/${id}`, {
        ...(signal ? { signal } : {}),
      });
      return value;
    } catch (error) {
      if (isNomadNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Every allocation in every namespace with its resources: what runs on the nodes besides our pods. */
  async allAllocations(signal?: AbortSignal): Promise<NomadAllocation[]> {
    const { value } = await this.transport.json<NomadAllocation[]>('GET', '/v1/allocations', {
      query: { resources: true, namespace: '*', task_states: false },
      ...(signal ? { signal } : {}),
    });
    return value;
  }

  async signalTask(allocId: string, task: string, signalName: string, signal?: AbortSignal): Promise<void> {
    await this.transport.request('POST', `/v1/client/allocation/${allocId}/signal`, {
      body: { Task: task, Signal: signalName },
      ...(signal ? { signal } : {}),
    });
  }

  async allocationStats(allocId: string, signal?: AbortSignal): Promise<NomadAllocStats> {
    const { value } = await this.transport.json<NomadAllocStats>('GET', `/v1/client/allocation/${allocId}/stats`, {
      ...(signal ? { signal } : {}),
    });
    return value;
  }

  /**
   * A task's stdout or stderr as plain bytes (`plain=true`), from `offset` bytes before the end
   * (`origin: 'end'`) or after the start; with `follow` the stream stays open for new output.
   */
  async logs(
    allocId: string,
    task: string,
    options: {
      type: 'stdout' | 'stderr';
      follow: boolean;
      origin: 'start' | 'end';
      offset: number;
      signal?: AbortSignal;
    },
  ): Promise<IncomingMessage> {
    const response = await this.transport.open('GET', `/v1/client/fs/logs/${allocId}`, {
      query: {
        task,
        type: options.type,
        follow: options.follow,
        origin: options.origin,
        offset: options.offset,
        plain: true,
      },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if ((response.statusCode ?? 0) >= 300) return NomadTransport.failed(response);
    return response;
  }

  /**
   * The event stream from `index` (0: from now) for `topics` (`Allocation:*`…), as the
   * newline-delimited JSON Nomad sends: each line a batch of events, or `{}` as a heartbeat.
   */
  async *events(
    topics: string[],
    index: number,
    signal: AbortSignal,
  ): AsyncGenerator<{ index: number; events: NomadEvent[] }> {
    const response = await this.transport.open('GET', '/v1/event/stream', { query: { topic: topics, index }, signal });
    if ((response.statusCode ?? 0) >= 300) await NomadTransport.failed(response);
    let buffered = '';
    response.setEncoding('utf8');
    for await (const chunk of response as AsyncIterable<string>) {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        if (!line) continue;
        const batch = JSON.parse(line) as { Index?: number; Events?: NomadEvent[] };
        if (batch.Events) yield { index: batch.Index ?? 0, events: batch.Events };
      }
    }
  }

  /** Where the exec WebSocket of a task is, and how `ws` reaches it. */
  execTarget(
    allocId: string,
    task: string,
    command: string[],
    tty: boolean,
  ): { url: string; options: Record<string, unknown> } {
    return this.transport.webSocketTarget(`/v1/client/allocation/${allocId}/exec`, {
      task,
      tty,
      command: JSON.stringify(command),
    });
  }

  close(): void {
    this.transport.close();
  }
}
