import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { ImplementationName } from '../baselines.ts';
import { percentiles } from '../measurement.ts';
import {
  baseResult,
  benchPod,
  createPod,
  ms,
  podPath,
  type RawRun,
  type RunResult,
  round,
  roundPercentiles,
  type ScenarioContext,
  withRun,
} from './harness.ts';

/** `streaming`: exec, logs and port-forward through the API server with the real kubectl. */
export async function runStreaming(
  context: ScenarioContext,
  implementation: ImplementationName,
): Promise<{ result: RunResult; raw: RawRun }[]> {
  return withRun(context, 'streaming', 1, implementation, async ({ kubelet, namespace, tracker, frame }) => {
    const { admin, cluster, log } = context;
    await createPod(admin, tracker, namespace, benchPod('stream', kubelet.nodeName));
    await tracker.until(() => tracker.running.has('stream'), performance.now() + 60_000);
    const kubectl = (args: string[]) =>
      [cluster.info.kubectl, ['--kubeconfig', cluster.info.kubeconfig, '-n', namespace, ...args]] as const;
    const notes: string[] = [];
    const extra: Record<string, number | string> = {};

    // One-shot exec: the whole kubectl command, process start included.
    const once: number[] = [];
    let onceOutput = '';
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const result = await cluster.kubectl(['-n', namespace, 'exec', 'stream', '--', 'echo', 'x']);
      once.push(performance.now() - t);
      onceOutput = `stdout "${result.stdout.trim()}", exit ${result.code}`;
    }
    extra.execOnceP50Ms = ms(percentiles(once).p50);
    extra.execOnceOutput = onceOutput;

    // A long-lived `kubectl exec -i -- cat`: one line out, the same line back.
    const rtt = await interactiveRoundTrips(kubectl(['exec', '-i', 'stream', '--', 'cat']), 200);
    if (rtt.error) notes.push(`exec session: ${rtt.error}`);
    const rttStats = percentiles(rtt.samples);
    extra.execRttP50Ms = ms(rttStats.p50);
    extra.execRttP99Ms = ms(rttStats.p99);

    const execBytes = 64 * 2 ** 20;
    const execThroughput = await pipeThroughput(kubectl(['exec', '-i', 'stream', '--', 'cat']), execBytes);
    extra.execMBps = execThroughput.mbps;
    if (execThroughput.error) notes.push(`exec throughput: ${execThroughput.error}`);

    // Logs: the mock writes one short line per second, so this is request latency more than bandwidth.
    const logTimes: number[] = [];
    let logBytes = 0;
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const response = await admin.send('GET', `${podPath(namespace, 'stream')}/log?container=app`);
      logTimes.push(performance.now() - t);
      logBytes += Buffer.byteLength(response.text);
      if (response.status !== 200) notes.push(`logs: HTTP ${response.status}`);
    }
    const logSeconds = logTimes.reduce((a, b) => a + b, 0) / 1000;
    extra.logsP50Ms = ms(percentiles(logTimes).p50);
    extra.logsMBps = round(logBytes / 2 ** 20 / logSeconds, 3);
    extra.logsBytesPerRequest = Math.round(logBytes / 20);

    const forward = await portForwardThroughput(kubectl(['port-forward', 'pod/stream', ':7000']), 64 * 2 ** 20);
    extra.portForwardMBps = forward.mbps;
    extra.portForwardRttP50Ms = ms(percentiles(forward.rtt).p50);
    if (forward.error) notes.push(`port-forward: ${forward.error}`);

    const cost = await frame.close();
    log(
      `streaming ${implementation}: exec rtt p50 ${extra.execRttP50Ms} ms, exec ${extra.execMBps} MB/s, port-forward ${extra.portForwardMBps} MB/s`,
    );
    return [
      {
        result: {
          ...baseResult('streaming', 1, kubelet),
          completed: notes.length === 0,
          pods: 1,
          done: 1,
          totalSeconds: round((performance.now() - frame.origin) / 1000, 1),
          podsPerSecond: 0,
          latencyMs: roundPercentiles(rttStats),
          latency: 'one line through `kubectl exec -i … -- cat` and back',
          ...cost,
          extra,
          notes,
        },
        raw: { latenciesMs: rtt.samples.map(ms), doneAtMs: [], process: frame.sampler.samples },
      },
    ];
  });
}

type Command = readonly [string, readonly string[]];

/** Resolves when a stream can take more data, or will never again (closed or failed). */
function drained(stream: NodeJS.WritableStream & { destroyed: boolean }): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

/** Writes a line to a long-lived command and times its echo, `count` times. */
async function interactiveRoundTrips(command: Command, count: number): Promise<{ samples: number[]; error?: string }> {
  const child = spawn(command[0], [...command[1]], { stdio: ['pipe', 'pipe', 'pipe'] });
  // kubectl may exit early (the Go mock's exec returns at once): its stdin then fails with EPIPE.
  child.stdin.on('error', () => {});
  const samples: number[] = [];
  let buffered = '';
  let stderr = '';
  let waiter: (() => void) | undefined;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    waiter?.();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (let i = 0; i < count; i++) {
      const line = `ping-${i}\n`;
      const t = performance.now();
      child.stdin.write(line);
      const deadline = t + 10_000;
      while (!buffered.includes(line)) {
        if (performance.now() > deadline || child.exitCode !== null) {
          return {
            samples,
            error: `no echo of line ${i} within 10 s${stderr ? `: ${stderr.trim().slice(0, 200)}` : ''}`,
          };
        }
        await Promise.race([new Promise<void>((resolve) => (waiter = resolve)), delay(100), exited]);
      }
      samples.push(performance.now() - t);
      buffered = buffered.slice(buffered.indexOf(line) + line.length);
    }
    return { samples };
  } finally {
    child.stdin.end();
    child.kill('SIGTERM');
    await exited;
  }
}

/** Pipes `bytes` through a command that echoes stdin (exec cat) and times the full echo. */
async function pipeThroughput(command: Command, bytes: number): Promise<{ mbps: number; error?: string }> {
  const child = spawn(command[0], [...command[1]], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {});
  let received = 0;
  let stderr = '';
  // The clock starts at the first echoed chunk, so kubectl's own start-up is not counted as streaming.
  let t = performance.now();
  let firstChunk = 0;
  const done = new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (received === 0) {
        t = performance.now();
        firstChunk = chunk.length;
      }
      received += chunk.length;
      if (received >= bytes) resolve();
    });
    child.once('exit', () => resolve());
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const writer = (async () => {
    for (let sent = 0; sent < bytes; sent += chunk.length) {
      if (child.stdin.destroyed) return;
      if (!child.stdin.write(chunk)) await drained(child.stdin);
    }
  })().catch(() => {});
  await Promise.race([done, delay(60_000)]);
  const seconds = (performance.now() - t) / 1000;
  child.stdin.destroy();
  child.kill('SIGTERM');
  await writer;
  const mbps = round((Math.min(received, bytes) - firstChunk) / 2 ** 20 / seconds, 2);
  if (received < bytes) {
    return { mbps, error: `echoed ${received} of ${bytes} bytes${stderr ? `: ${stderr.trim().slice(0, 200)}` : ''}` };
  }
  return { mbps };
}

/** Runs `kubectl port-forward`, then times small round trips and a bulk echo through the local port. */
async function portForwardThroughput(
  command: Command,
  bytes: number,
): Promise<{ mbps: number; rtt: number[]; error?: string }> {
  const child = spawn(command[0], [...command[1]], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  try {
    const start = performance.now();
    let port: number | undefined;
    while (!port) {
      port = Number(/Forwarding from 127\.0\.0\.1:(\d+)/.exec(output)?.[1]) || undefined;
      if (performance.now() - start > 20_000 || child.exitCode !== null) {
        return { mbps: 0, rtt: [], error: `kubectl port-forward did not start: ${output.trim().slice(0, 200)}` };
      }
      await delay(50);
    }
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(port as number, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    let received = 0;
    let waiter: (() => void) | undefined;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      waiter?.();
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const waitFor = async (target: number, timeoutMs: number) => {
      const deadline = performance.now() + timeoutMs;
      while (received < target) {
        if (performance.now() > deadline || socket.destroyed) return false;
        await Promise.race([new Promise<void>((resolve) => (waiter = resolve)), delay(100), closed]);
      }
      return true;
    };
    const rtt: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      socket.write('x'.repeat(16));
      if (!(await waitFor(received + 16, 10_000))) {
        socket.destroy();
        return { mbps: 0, rtt, error: `no echo after ${i} round trips (${received} bytes back)` };
      }
      rtt.push(performance.now() - t);
    }
    const base = received;
    const t = performance.now();
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    for (let sent = 0; sent < bytes; sent += chunk.length) {
      if (socket.destroyed) break;
      if (!socket.write(chunk)) await drained(socket);
    }
    const ok = await waitFor(base + bytes, 120_000);
    const seconds = (performance.now() - t) / 1000;
    socket.destroy();
    return {
      mbps: round((received - base) / 2 ** 20 / seconds, 2),
      rtt,
      ...(ok ? {} : { error: `echoed ${received - base} of ${bytes} bytes` }),
    };
  } catch (error) {
    return { mbps: 0, rtt: [], error: error instanceof Error ? error.message : String(error) };
  } finally {
    child.kill('SIGTERM');
  }
}
