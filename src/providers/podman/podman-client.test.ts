/**
 * PodmanClient against a real Podman service (tools/podman): pods and containers from the
 * locally built busybox image, logs, exec, attach, stats, events, port access from the host,
 * and the error mapping. Skipped, with the reason, where Podman cannot run (not root, no
 * podman/runc); `VK_SKIP_PODMAN=1` skips on purpose.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import {
  type PodmanTestEnvironment,
  podmanSkipReason,
  podmanTestEnvironment,
  waitFor,
} from '../../../tools/podman/testing.ts';
import { isNotFound } from '../../errors.ts';
import {
  type ContainerCreateSpec,
  hostRlimits,
  isPodmanUnavailable,
  type LogEntry,
  PodmanClient,
  PodmanError,
  type PodmanEvent,
} from './podman-client.ts';

/** A Writable that keeps what it receives. */
function sink(): { stream: Writable; bytes: () => Buffer; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  return { stream, bytes: () => Buffer.concat(chunks), text: () => Buffer.concat(chunks).toString('utf8') };
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

const runId = randomBytes(3).toString('hex');
const labels = { 'io.virtual-kubelet.test': `podman-client-${runId}` };

describe('PodmanClient against Podman', { skip: podmanSkipReason() }, () => {
  let env: PodmanTestEnvironment;
  let client: PodmanClient;
  const timings: Record<string, number> = {};

  before(async () => {
    const started = performance.now();
    env = await podmanTestEnvironment();
    client = env.client;
    timings.serviceStartAndImage = Math.round(performance.now() - started);
  });

  after(async () => {
    if (!env) return;
    let started = performance.now();
    await env.service.removePods(labels);
    timings.cleanup = Math.round(performance.now() - started);
    started = performance.now();
    await env.service.close();
    timings.serviceStop = Math.round(performance.now() - started);
    process.stderr.write(`podman timings (ms): ${JSON.stringify(timings)}\n`);
  });

  /** A started pod with a started container running `script` under sh; the container's ID. */
  async function podWith(
    name: string,
    script: string,
    extra: Partial<ContainerCreateSpec> = {},
  ): Promise<{ pod: string; id: string }> {
    const pod = `vkt-${runId}-${name}`;
    await client.createPod({ name: pod, labels, hostname: name });
    await client.startPod(pod);
    const id = await client.createContainer({
      name: `${pod}-main`,
      pod,
      image: env.busybox,
      entrypoint: ['sh', '-c', script],
      labels,
      restart_policy: 'no',
      ...extra,
    });
    await client.startContainer(id);
    return { pod, id };
  }

  test('a pod and its container: create, start, inspect state, IP, lists', async () => {
    const pod = `vkt-${runId}-life`;
    const podId = await client.createPod({ name: pod, labels, hostname: 'web-1' });
    await client.startPod(pod);
    const started = performance.now();
    const id = await client.createContainer({
      name: `${pod}-main`,
      pod,
      image: env.busybox,
      entrypoint: ['sh', '-c', 'echo started; exec sleep 600'],
      env: { GREETING: 'hello' },
      labels,
      restart_policy: 'no',
      r_limits: [
        { type: 'RLIMIT_NOFILE', soft: 1000, hard: 1000 },
        { type: 'nproc', soft: 500, hard: 500 },
      ],
    });
    await client.startContainer(id);
    timings.containerCreateAndStart = Math.round(performance.now() - started);

    const container = await client.inspectContainer(id);
    assert.equal(container.state.status, 'running');
    assert.equal(container.state.running, true);
    assert.equal(container.state.exitCode, 0);
    assert.ok(container.state.startedAt && Math.abs(container.state.startedAt.getTime() - Date.now()) < 60_000);
    assert.equal(container.state.finishedAt, undefined);
    assert.equal(container.podId, podId);
    assert.equal(container.image, env.busybox);
    assert.match(container.imageId, /^[0-9a-f]{64}$/);
    assert.ok(container.env.includes('GREETING=hello'));
    assert.equal(container.labels['io.virtual-kubelet.test'], labels['io.virtual-kubelet.test']);

    const ip = await client.podIP(pod);
    assert.match(ip ?? '', /^\d+\.\d+\.\d+\.\d+$/);
    assert.equal(container.ipAddress, ip, 'a container in a pod reports the pod IP');

    const inspected = await client.inspectPod(pod);
    assert.equal(inspected.id, podId);
    assert.equal(inspected.state, 'Running');
    assert.equal(inspected.hostname, 'web-1');
    assert.deepEqual([...inspected.sharedNamespaces].sort(), ['ipc', 'net', 'uts']);
    assert.ok(inspected.infraContainerId);
    assert.equal(inspected.containers.length, 2, 'the infra container and ours');

    const pods = await client.listPods({ labelFilters: labels });
    assert.ok(pods.some((p) => p.id === podId && p.status === 'Running'));
    const listed = await client.listContainers({ labelFilters: labels, pod });
    assert.deepEqual(
      listed.map((c) => [c.id, c.state, c.podName]),
      [[id, 'running', pod]],
    );

    // The `RLIMIT_` prefix is stripped (Podman adds its own); the pod's hostname is shared.
    const out = sink();
    const script = 'ulimit -n; ulimit -u; hostname';
    assert.equal(await client.exec(id, { cmd: ['sh', '-c', script], io: { stdout: out.stream } }), 0);
    assert.deepEqual(out.text().split('\n').filter(Boolean), ['1000', '500', 'web-1']);
  });

  test('exec: stdin to stdout, stderr, exit code, a lone ctrl-p, TTY with resize', async () => {
    const { id } = await podWith('exec', 'exec sleep 600');

    const started = performance.now();
    const echoed = sink();
    const code = await client.exec(id, {
      cmd: ['cat'],
      io: { stdin: Readable.from([Buffer.from('hello '), Buffer.from('world')]), stdout: echoed.stream },
    });
    timings.execRoundTrip = Math.round(performance.now() - started);
    assert.equal(code, 0);
    assert.equal(echoed.text(), 'hello world', 'stdin reached cat and its EOF ended it');

    const out = sink();
    const err = sink();
    const failing = await client.exec(id, {
      cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'],
      io: { stdout: out.stream, stderr: err.stream },
    });
    assert.equal(failing, 3);
    assert.equal(out.text(), 'out\n');
    assert.equal(err.text(), 'err\n');

    // Podman's default detach keys would hold a lone ctrl-p back until the next key.
    const stdin = new PassThrough();
    const raw = sink();
    const cat = client.exec(id, { cmd: ['cat'], io: { stdin, stdout: raw.stream } });
    stdin.write(Buffer.from([0x10]));
    await waitFor('ctrl-p echoed by cat', () => raw.bytes().equals(Buffer.from([0x10])), { timeoutMs: 5000 });
    stdin.end();
    assert.equal(await cat, 0);

    const terminalIn = new PassThrough();
    const terminal = sink();
    let execId = '';
    const session = client.exec(id, {
      cmd: ['sh', '-c', 'stty size; read line; stty size; exit 5'],
      tty: true,
      size: { h: 24, w: 80 },
      io: { stdin: terminalIn, stdout: terminal.stream },
      onCreated: (started) => {
        execId = started;
      },
    });
    await waitFor('the initial terminal size', () => terminal.text().includes('24 80'), { timeoutMs: 5000 });
    await client.execResize(execId, { h: 40, w: 100 });
    terminalIn.write('\n');
    await waitFor('the resized terminal', () => terminal.text().includes('40 100'), { timeoutMs: 5000 });
    terminalIn.end();
    assert.equal(await session, 5);
    assert.match(terminal.text(), /\r\n/, 'a TTY turns newlines into CRLF');
    const inspected = await client.execInspect(execId);
    assert.equal(inspected.running, false);
    assert.equal(inspected.exitCode, 5);
    assert.equal(inspected.tty, true);
  });

  test('logs: streams, times, tail, since (exclusive), partial lines, follow until exit', async () => {
    const before = new Date();
    const { id } = await podWith(
      'logs',
      [
        'echo one',
        'echo oops >&2',
        // conmon reads stdout and stderr from two pipes: pace them so the file order is known.
        'sleep 0.3',
        'echo two',
        'while [ ! -e /tmp/go ]; do sleep 0.05; done',
        'echo three',
        'printf partial',
        'while [ ! -e /tmp/stop ]; do sleep 0.05; done',
        'echo " end"',
      ].join('; '),
    );
    const all = await waitFor(
      'the first lines',
      async () => {
        const entries = await collect(client.containerLogs(id));
        return entries.length >= 3 ? entries : undefined;
      },
      { timeoutMs: 10_000 },
    );
    assert.deepEqual(
      all.map((e) => [e.stream, e.text, e.partial]),
      [
        ['stdout', 'one', false],
        ['stderr', 'oops', false],
        ['stdout', 'two', false],
      ],
    );
    for (const entry of all) {
      // Whole seconds: the API drops the fraction.
      assert.equal(entry.time.getMilliseconds(), 0);
      assert.ok(entry.time.getTime() >= Math.floor(before.getTime() / 1000) * 1000 - 1000, 'not before the start');
      assert.ok(entry.time.getTime() <= Date.now() + 1000, 'not in the future');
    }

    assert.deepEqual(
      (await collect(client.containerLogs(id, { tail: 1 }))).map((e) => e.text),
      ['two'],
    );
    assert.deepEqual(
      (await collect(client.containerLogs(id, { stderr: false }))).map((e) => e.text),
      ['one', 'two'],
    );

    const mark = new Date();
    const follower = collect(client.containerLogs(id, { follow: true, since: mark }));
    assert.equal(await client.exec(id, { cmd: ['touch', '/tmp/go'], io: {} }), 0);
    await waitFor(
      'the lines after the mark',
      async () => (await collect(client.containerLogs(id, { since: mark }))).some((e) => e.partial),
      { timeoutMs: 10_000 },
    );
    const sinceMark = await collect(client.containerLogs(id, { since: mark }));
    assert.deepEqual(
      sinceMark.map((e) => [e.text, e.partial]),
      [
        ['three', false],
        ['partial', true],
      ],
    );

    assert.equal(await client.exec(id, { cmd: ['touch', '/tmp/stop'], io: {} }), 0);
    // The container exits after its last line; a followed log ends by itself then.
    const followed = await follower;
    assert.deepEqual(
      followed.map((e: LogEntry) => e.text),
      ['three', 'partial', ' end'],
    );
    assert.equal(await client.waitContainer(id), 0);
  });

  test('logs: aborting a followed log ends it quietly', async () => {
    const { id } = await podWith('logs-abort', 'echo first; exec sleep 600');
    const controller = new AbortController();
    const seen: string[] = [];
    for await (const entry of client.containerLogs(id, { follow: true, signal: controller.signal })) {
      seen.push(entry.text);
      controller.abort();
    }
    assert.deepEqual(seen, ['first']);
  });

  test('attach: stdin in, stdout out, and the end of stdin reaches the process', async () => {
    const { id } = await podWith('attach', 'while read line; do echo "got $line"; done; echo bye', { stdin: true });
    const stdin = new PassThrough();
    const out = sink();
    const attached = client.attachContainer(id, { stdin, stdout: out.stream, stderr: out.stream, tty: false });
    stdin.write('a\n');
    await waitFor('the echo of the first line', () => out.text().includes('got a'), { timeoutMs: 5000 });
    stdin.end('b\n');
    await attached;
    assert.equal(out.text(), 'got a\ngot b\nbye\n');
    assert.equal(await client.waitContainer(id), 0);
  });

  test('port access: the host reaches a busybox httpd at the pod IP; stats count the traffic', async () => {
    const { pod, id } = await podWith(
      'web',
      'mkdir -p /www && echo hello > /www/index.html && head -c 1048576 /dev/zero > /www/big && exec httpd -f -p 8080 -h /www',
    );
    const ip = await client.podIP(pod);
    const body = await waitFor(
      'httpd to answer',
      async () => {
        const response = await fetch(`http://${ip}:8080/index.html`);
        return response.ok ? response.text() : undefined;
      },
      { timeoutMs: 10_000 },
    );
    assert.equal(body, 'hello\n');

    const socket = await client.connectToPod(pod, 8080);
    const reply = await new Promise<string>((resolve, reject) => {
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      socket.end('GET /index.html HTTP/1.0\r\n\r\n');
    });
    assert.match(reply, /^HTTP\/1\.[01] 200/);
    assert.match(reply, /\r\n\r\nhello\n$/);

    const [beforeDownload] = await client.containerStats([id]);
    assert.ok(beforeDownload);
    const big = await fetch(`http://${ip}:8080/big`);
    assert.equal((await big.arrayBuffer()).byteLength, 1_048_576);
    const [afterDownload] = await client.containerStats([id]);
    assert.ok(afterDownload);
    const sent = afterDownload.networkTxBytes - beforeDownload.networkTxBytes;
    const received = afterDownload.networkRxBytes - beforeDownload.networkRxBytes;
    assert.ok(sent >= 1_048_576, `the pod sent the 1 MiB file (tx grew by ${sent})`);
    assert.ok(received < sent / 4, `and received much less (rx grew by ${received})`);
  });

  test('stats: CPU in nanoseconds, memory, processes; unknown containers are left out', async () => {
    const { id } = await podWith('stats', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 600');
    const stats = await waitFor(
      'CPU time to accumulate',
      async () => {
        const [sample] = await client.containerStats([id, 'no-such-container']);
        return sample && sample.cpuNanos > 1_000_000 ? sample : undefined;
      },
      { timeoutMs: 10_000 },
    );
    assert.equal(stats.id, id);
    assert.ok(stats.memoryUsageBytes > 0);
    assert.ok(stats.memoryWorkingSetBytes > 0 && stats.memoryWorkingSetBytes <= stats.memoryUsageBytes);
    assert.ok(stats.memoryLimitBytes > 0);
    assert.ok(stats.pids >= 1);
    assert.ok(Math.abs(stats.timestamp.getTime() - Date.now()) < 10_000);
    assert.deepEqual(await client.containerStats(['no-such-container']), []);
  });

  test('events: start and died (with the exit code) for a container, then a quiet abort', async () => {
    const since = new Date(Date.now() - 1000);
    const controller = new AbortController();
    const seen: PodmanEvent[] = [];
    const watching = (async () => {
      for await (const event of client.events({
        since,
        filters: { type: ['container'], event: ['start', 'died'], label: labels },
        signal: controller.signal,
      })) {
        seen.push(event);
      }
    })();
    const { pod, id } = await podWith('events', 'exit 7');
    const died = await waitFor('the died event', () => seen.find((e) => e.id === id && e.action === 'died'), {
      timeoutMs: 10_000,
    });
    assert.equal(died.exitCode, 7);
    assert.equal(died.name, `${pod}-main`);
    assert.equal(died.image, env.busybox);
    assert.equal(died.podId, '', 'Podman records died events without the pod');
    assert.equal(died.attributes['io.virtual-kubelet.test'], labels['io.virtual-kubelet.test']);
    const start = seen.find((e) => e.id === id && e.action === 'start');
    assert.ok(start, 'the start event came too');
    assert.ok(start.timeNano <= died.timeNano);
    controller.abort();
    await watching; // ends without throwing
  });

  test('stop, kill, wait and remove containers and pods', async () => {
    const { pod, id } = await podWith('stop', 'exec sleep 600', { stop_timeout: 1 });
    // sleep as PID 1 ignores SIGTERM, so stop ends with SIGKILL after the timeout.
    const started = performance.now();
    await client.stopContainer(id, 1);
    const stopMs = performance.now() - started;
    let state = (await client.inspectContainer(id)).state;
    assert.equal(state.running, false);
    assert.equal(state.exitCode, 137);
    assert.ok(state.finishedAt);
    assert.ok(stopMs >= 900, `stop waited for the timeout (${Math.round(stopMs)} ms)`);
    await client.stopContainer(id, 1); // already stopped: fine

    const trapping = await client.createContainer({
      name: `${pod}-trap`,
      pod,
      image: env.busybox,
      entrypoint: ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 0.1; done"],
      labels,
    });
    await client.startContainer(trapping);
    await client.stopContainer(trapping, 30);
    state = (await client.inspectContainer(trapping)).state;
    assert.equal(state.exitCode, 0, 'the TERM trap ran');

    const killed = await client.createContainer({
      name: `${pod}-kill`,
      pod,
      image: env.busybox,
      entrypoint: ['sleep', '600'],
      labels,
    });
    await client.startContainer(killed);
    const waiting = client.waitContainer(killed);
    await client.killContainer(killed, 'SIGKILL');
    assert.equal(await waiting, 137);
    await client.killContainer(killed); // not running: fine

    await client.removeContainer(killed, { force: true });
    await assert.rejects(client.inspectContainer(killed), (error) => isNotFound(error));

    await client.stopPod(pod, 1);
    assert.match((await client.inspectPod(pod)).state, /Exited|Stopped/);
    await client.killPod(pod); // nothing running: fine
    await client.removePod(pod, true);
    await assert.rejects(client.inspectPod(pod), (error) => isNotFound(error));
    await assert.rejects(client.removePod(pod), (error) => isNotFound(error));
  });

  test('an OOM kill under a memory limit is reported as oomKilled (Podman 4.3 on cgroup v1 does not say); a SIGKILL is not', async (t) => {
    const host = await client.info();
    if (!host.cgroupControllers.includes('memory')) {
      t.skip('this Podman host has no memory cgroup controller: memory limits are not enforced');
      return;
    }
    const { pod, id } = await podWith('oom', 'x=a; while :; do x=$x$x$x$x; done', {
      resource_limits: { memory: { limit: 10 * 1024 * 1024 } },
      r_limits: hostRlimits(),
    });
    assert.equal(await client.waitContainer(id), 137);
    const state = await waitFor('the OOM kill', async () => {
      const s = (await client.inspectContainer(id)).state;
      return s.status === 'exited' ? s : undefined;
    });
    assert.equal(state.exitCode, 137);
    assert.equal(state.oomKilled, true);

    const killed = await client.createContainer({
      name: `${pod}-killed`,
      pod,
      image: env.busybox,
      entrypoint: ['sleep', '600'],
      labels,
      resource_limits: { memory: { limit: 10 * 1024 * 1024 } },
      r_limits: hostRlimits(),
    });
    await client.startContainer(killed);
    await client.killContainer(killed, 'SIGKILL');
    assert.equal(await client.waitContainer(killed), 137);
    assert.equal((await client.inspectContainer(killed)).state.oomKilled, false);
  });

  test('errors: 404 is NotFoundError, taken names, an unreachable service, rlimits too high', async () => {
    await assert.rejects(client.inspectContainer(`no-such-${runId}`), (error: unknown) => {
      assert.ok(isNotFound(error));
      assert.match((error as Error).message, /no container with name or ID/);
      const cause = (error as Error).cause;
      assert.ok(cause instanceof PodmanError && cause.status === 404);
      return true;
    });
    assert.equal(await client.imageExists(`localhost/no-such-image-${runId}:1`), false);
    assert.equal(await client.imageExists(env.busybox), true);

    const pod = `vkt-${runId}-dup`;
    await client.createPod({ name: pod, labels });
    await assert.rejects(client.createPod({ name: pod, labels }), (error: unknown) => {
      assert.ok(error instanceof PodmanError);
      assert.equal(error.status, 409);
      assert.ok(error.alreadyExists);
      return true;
    });
    await client.createContainer({ name: `${pod}-c`, pod, image: env.busybox, entrypoint: ['true'] });
    await assert.rejects(
      client.createContainer({ name: `${pod}-c`, pod, image: env.busybox, entrypoint: ['true'] }),
      (error: unknown) => error instanceof PodmanError && error.alreadyExists,
    );

    const nowhere = new PodmanClient(`/tmp/no-such-podman-${runId}.sock`);
    await assert.rejects(nowhere.ping(), (error: unknown) => {
      assert.ok(isPodmanUnavailable(error));
      assert.match((error as Error).message, /does not exist/);
      return true;
    });
    nowhere.close();

    // Where limits cannot be raised: a container asking for more than the service has fails
    // to start, and the error says what to do. Naming only nofile makes Podman add its own
    // (too high) nproc.
    const host = hostRlimits();
    const hard = (type: string) => host?.find((l) => l.type === type)?.hard ?? 1_048_576;
    if (hard('nofile') < 1_048_576 && hard('nproc') < 1_048_576) {
      await client.startPod(pod);
      const greedy = await client.createContainer({
        name: `${pod}-greedy`,
        pod,
        image: env.busybox,
        entrypoint: ['true'],
        r_limits: [{ type: 'nofile', soft: 1024, hard: 1024 }],
      });
      await assert.rejects(client.startContainer(greedy), (error: unknown) => {
        assert.ok(error instanceof PodmanError);
        assert.match(error.message, /error setting rlimit type 6/);
        assert.match(error.message, /RLIMIT_NPROC/);
        assert.match(error.message, /both nofile and nproc/);
        return true;
      });
      // The start-up check finds it with a container like ours, from the infra image (no pull).
      await assert.rejects(
        client.checkRuntime({
          container: { runtime: 'runc', rlimits: [{ type: 'nofile', soft: 1024, hard: 1024 }] },
        }),
        /both nofile and nproc/,
      );
    }
    const sane = Math.min(hard('nofile'), hard('nproc'), 4096);
    await client.checkRuntime({
      container: {
        runtime: 'runc',
        rlimits: [
          { type: 'nofile', soft: sane, hard: sane },
          { type: 'nproc', soft: sane, hard: sane },
        ],
      },
    });
    await client.checkRuntime({ image: env.busybox });
  });
});
