import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { isInvalidInput } from '../../errors.ts';
import { NOMAD_DEFAULTS, type NomadConfig } from './config.ts';
import { chainedInitCommand, jobFromPod, jobImages, META_UID, unsupportedFeatures } from './job-spec.ts';

const config: NomadConfig = { ...NOMAD_DEFAULTS, dockerEngine: 'podman' };
const context = { config, nodeName: 'vk-1', mhzPerCore: 2000 };

function pod(spec: Partial<NonNullable<Pod['spec']>>): Pod {
  return {
    metadata: { name: 'web-1', namespace: 'shop', uid: 'uid-1' },
    spec: { containers: [{ name: 'app', image: 'busybox' }], ...spec },
  } as Pod;
}

test('a pod becomes one group of count 1 with its identity in Meta and a task per container', () => {
  const job = jobFromPod(
    pod({
      terminationGracePeriodSeconds: 12,
      containers: [
        {
          name: 'app',
          image: 'busybox:1',
          command: ['sh', '-c'],
          args: ['echo hi'],
          workingDir: '/work',
          env: [{ name: 'A', value: '1' }],
          resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { memory: '128Mi' } },
          ports: [{ containerPort: 80, hostPort: 8080 }],
        },
      ],
    }),
    context,
  );
  assert.equal(job.ID, 'k8s.shop.web-1');
  assert.equal(job.Type, 'service');
  assert.equal(job.Meta?.[META_UID], 'uid-1');
  assert.equal(job.Meta?.['vk.node'], 'vk-1');
  const group = job.TaskGroups[0];
  assert.equal(group?.Count, 1);
  assert.deepEqual(group?.ReschedulePolicy, { Attempts: 0, Unlimited: false });
  assert.equal(group?.RestartPolicy?.Mode, 'delay');
  assert.deepEqual(group?.Networks, [
    { Mode: 'bridge', ReservedPorts: [{ Label: 'port-8080-tcp', Value: 8080, To: 80 }] },
  ]);
  const task = group?.Tasks[0];
  assert.equal(task?.Driver, 'docker');
  assert.deepEqual(task?.Config.entrypoint, ['sh', '-c']);
  assert.deepEqual(task?.Config.args, ['echo hi']);
  assert.equal(task?.Config.work_dir, '/work');
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Nomad's interpolation
  assert.equal(task?.Config.network_mode, 'ns:/var/run/netns/${NOMAD_ALLOC_ID}');
  assert.deepEqual(task?.Env, { A: '1' });
  assert.equal(task?.KillTimeout, 12e9);
  assert.equal(task?.Resources.CPU, 500);
  assert.equal(task?.Resources.MemoryMB, 64);
  assert.equal(task?.Resources.MemoryMaxMB, 128);
  assert.deepEqual(task?.Resources.Networks, [{ Mode: 'host' }]);
  assert.deepEqual(jobImages(job), { app: 'busybox:1' });
});

test('restart policies: Never is a batch job without restarts, OnFailure a batch job that restarts', () => {
  const never = jobFromPod(pod({ restartPolicy: 'Never' }), context).TaskGroups[0];
  assert.equal(jobFromPod(pod({ restartPolicy: 'Never' }), context).Type, 'batch');
  assert.equal(never?.RestartPolicy?.Attempts, 0);
  assert.equal(never?.RestartPolicy?.Mode, 'fail');
  const onFailure = jobFromPod(pod({ restartPolicy: 'OnFailure' }), context);
  assert.equal(onFailure.Type, 'batch');
  assert.equal(onFailure.TaskGroups[0]?.RestartPolicy?.Mode, 'delay');
  assert.equal(onFailure.TaskGroups[0]?.RestartPolicy?.Attempts, config.restart.attempts);
});

test('the docker engine leaves networking to the docker driver; requests fall back to the defaults', () => {
  const job = jobFromPod(pod({}), { ...context, config: { ...config, dockerEngine: 'docker' } });
  const task = job.TaskGroups[0]?.Tasks[0];
  assert.equal(task?.Config.network_mode, undefined);
  assert.equal(task?.Resources.Networks, undefined);
  assert.equal(task?.Resources.CPU, 200); // 100m at 2000 MHz per core
  assert.equal(task?.Resources.MemoryMB, 128);
  assert.equal(task?.Resources.MemoryMaxMB, undefined);
  // Nomad's minimum of 10 MB.
  const tiny = jobFromPod(
    pod({ containers: [{ name: 'app', image: 'x', resources: { requests: { memory: '1Mi' } } }] }),
    context,
  );
  assert.equal(tiny.TaskGroups[0]?.Tasks[0]?.Resources.MemoryMB, 10);
});

test('several init containers are chained prestart tasks; sidecars are prestart sidecars', () => {
  const job = jobFromPod(
    pod({
      initContainers: [
        { name: 'one', image: 'busybox', command: ['echo', '1'] },
        { name: 'proxy', image: 'busybox', command: ['sleep', '1000'], restartPolicy: 'Always' },
        { name: 'two', image: 'busybox', command: ['echo'], args: ['2'] },
      ],
    }),
    context,
  );
  const tasks = job.TaskGroups[0]?.Tasks ?? [];
  assert.deepEqual(
    tasks.map((t) => [t.Name, t.Lifecycle?.Hook, t.Lifecycle?.Sidecar]),
    [
      ['one', 'prestart', false],
      ['proxy', 'prestart', true],
      ['two', 'prestart', false],
      ['app', undefined, undefined],
    ],
  );
  assert.deepEqual(tasks[0]?.Config.entrypoint, chainedInitCommand(['echo', '1'], undefined, 'one'));
  assert.deepEqual(tasks[1]?.Config.entrypoint, ['sleep', '1000']);
  assert.deepEqual(tasks[2]?.Config.entrypoint, chainedInitCommand(['echo', '2'], 'one', 'two'));
  // The wrapper passes the command as arguments: nothing of it is parsed by the shell.
  const script = chainedInitCommand(['echo', '$(reboot)'], 'a', 'b');
  assert.deepEqual(script.slice(3), ['virtual-kubelet-init', 'echo', '$(reboot)']);
  assert.match(script[2] ?? '', /until \[ -e \/alloc\/\.virtual-kubelet-init\/a \]/);
});

test('a chained init container without a command is refused: its image entrypoint is unknown', () => {
  assert.throws(
    () =>
      jobFromPod(
        pod({
          initContainers: [
            { name: 'one', image: 'busybox', command: ['true'] },
            { name: 'two', image: 'busybox' },
          ],
        }),
        context,
      ),
    (error) => isInvalidInput(error) && /init container "two" needs a command/.test((error as Error).message),
  );
});

test('what Nomad cannot express is refused with a list of it; service account tokens are left out', () => {
  assert.deepEqual(
    unsupportedFeatures(
      pod({
        hostNetwork: true,
        hostPID: true,
        volumes: [
          { name: 'kube-api-access-abcde', projected: { sources: [] } },
          { name: 'scratch', emptyDir: {} },
          { name: 'data', persistentVolumeClaim: { claimName: 'data' } },
        ],
        containers: [{ name: 'app', image: 'busybox', lifecycle: { preStop: { exec: { command: ['true'] } } } }],
      }),
    ),
    [
      'hostNetwork',
      'hostPID',
      'volume "data" (persistentVolumeClaim: only emptyDir volumes are supported)',
      'container "app": lifecycle hooks',
    ],
  );
  assert.throws(
    () => jobFromPod(pod({ hostIPC: true }), context),
    (error) => isInvalidInput(error) && /cannot run this pod: hostIPC/.test((error as Error).message),
  );
});

test('the exec drivers run the command as a host binary', () => {
  const job = jobFromPod(
    pod({ containers: [{ name: 'app', image: 'ignored', command: ['/bin/sleep'], args: ['5'] }] }),
    {
      ...context,
      config: { ...config, driver: 'raw_exec' },
    },
  );
  assert.deepEqual(job.TaskGroups[0]?.Tasks[0]?.Config, { command: '/bin/sleep', args: ['5'] });
  assert.throws(
    () => jobFromPod(pod({}), { ...context, config: { ...config, driver: 'exec' } }),
    (error) => isInvalidInput(error) && /need a command/.test((error as Error).message),
  );
});
