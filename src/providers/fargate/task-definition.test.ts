import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { isInvalidInput } from '../../errors.ts';
import { podTaskDefinition, TASK_ROLE_ANNOTATION, type TaskDefinitionSettings } from './task-definition.ts';
import { LABEL_CONTAINER_KIND } from './task-identity.ts';

const settings: TaskDefinitionSettings = {
  nodeName: 'vk-1',
  cpuArchitecture: 'X86_64',
  executionRoleArn: 'arn:aws:iam::123456789012:role/exec',
  taskRoleArn: undefined,
  logGroup: '/vk',
  logStreamPrefix: 'vk',
  region: 'eu-west-1',
};

function pod(spec: Partial<NonNullable<Pod['spec']>>, annotations?: Record<string, string>): Pod {
  return {
    metadata: { namespace: 'ns', name: 'p', uid: 'u1', ...(annotations ? { annotations } : {}) },
    spec: { containers: [{ name: 'app', image: 'nginx:1.27' }], ...spec },
  };
}

test('a plain container: image, entryPoint/command, env, ports, awslogs, the smallest size', () => {
  const { input, size, kinds } = podTaskDefinition(
    pod({
      containers: [
        {
          name: 'web',
          image: 'nginx:1.27',
          command: ['nginx'],
          args: ['-g', 'daemon off;'],
          env: [
            { name: 'A', value: '1' },
            { name: 'B', value: 'x' },
            { name: 'A', value: '2' },
          ],
          ports: [{ containerPort: 80 }, { containerPort: 53, protocol: 'UDP' }],
          workingDir: '/srv',
        },
      ],
    }),
    settings,
  );
  assert.deepEqual(size, { cpu: 256, memoryMiB: 512 });
  assert.equal(input.cpu, '256');
  assert.equal(input.memory, '512');
  assert.equal(input.networkMode, 'awsvpc');
  assert.deepEqual(input.requiresCompatibilities, ['FARGATE']);
  assert.equal(input.executionRoleArn, settings.executionRoleArn);
  assert.match(input.family, /^vk-[0-9a-f]{24}$/);
  assert.deepEqual(kinds, { web: 'app' });
  const [web] = input.containerDefinitions ?? [];
  assert.equal(web?.image, 'nginx:1.27');
  assert.deepEqual(web?.entryPoint, ['nginx']);
  assert.deepEqual(web?.command, ['-g', 'daemon off;']);
  assert.deepEqual(web?.environment, [
    { name: 'A', value: '2' },
    { name: 'B', value: 'x' },
  ]);
  assert.deepEqual(web?.portMappings, [
    { containerPort: 80, protocol: 'tcp' },
    { containerPort: 53, protocol: 'udp' },
  ]);
  assert.equal(web?.essential, true);
  assert.equal(web?.workingDirectory, '/srv');
  // No memory named: the container reserves the whole task (moto refuses a container without any).
  assert.equal(web?.memoryReservation, 512);
  assert.equal(web?.memory, undefined);
  assert.equal(web?.stopTimeout, 30);
  assert.deepEqual(web?.logConfiguration, {
    logDriver: 'awslogs',
    options: { 'awslogs-group': '/vk', 'awslogs-stream-prefix': 'vk', 'awslogs-region': 'eu-west-1' },
  });
});

test('requests and limits: task size from limits else requests, container cpu/memoryReservation/memory', () => {
  const { input, size } = podTaskDefinition(
    pod({
      containers: [
        {
          name: 'a',
          image: 'a',
          resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '1536Mi' } },
        },
        { name: 'b', image: 'b', resources: { requests: { cpu: '250m' } } },
      ],
    }),
    settings,
  );
  // cpu 512 + 256 units = 768 → 1 vCPU; memory 1536 Mi + b's nothing → 1 vCPU's smallest, 2 GiB
  assert.deepEqual(size, { cpu: 1024, memoryMiB: 2048 });
  const [a, b] = input.containerDefinitions ?? [];
  assert.equal(a?.cpu, 512);
  assert.equal(a?.memoryReservation, 1024);
  assert.equal(a?.memory, 1536);
  assert.equal(b?.cpu, 256);
  // what the task has beyond a's request
  assert.equal(b?.memoryReservation, 1024);
});

test('init containers run in order before the app; sidecars start first; kinds are labelled', () => {
  const { input, kinds } = podTaskDefinition(
    pod({
      initContainers: [
        { name: 'migrate', image: 'm' },
        { name: 'proxy', image: 'p', restartPolicy: 'Always' },
        { name: 'seed', image: 's', resources: { limits: { memory: '3Gi' } } },
      ],
    }),
    settings,
  );
  assert.deepEqual(kinds, { migrate: 'init', proxy: 'sidecar', seed: 'init', app: 'app' });
  const byName = Object.fromEntries((input.containerDefinitions ?? []).map((c) => [c.name, c]));
  assert.equal(byName.migrate?.essential, false);
  assert.equal(byName.migrate?.dependsOn, undefined);
  assert.deepEqual(byName.seed?.dependsOn, [{ containerName: 'migrate', condition: 'SUCCESS' }]);
  assert.deepEqual(byName.proxy?.dependsOn, [{ containerName: 'migrate', condition: 'SUCCESS' }]);
  assert.deepEqual(byName.app?.dependsOn, [
    { containerName: 'migrate', condition: 'SUCCESS' },
    { containerName: 'seed', condition: 'SUCCESS' },
    { containerName: 'proxy', condition: 'START' },
  ]);
  assert.equal(byName.app?.dockerLabels?.[LABEL_CONTAINER_KIND], 'app');
  // the largest init container decides: 3 GiB → 0.5 vCPU / 3 GiB
  assert.equal(input.cpu, '512');
  assert.equal(input.memory, '3072');
});

test('an exec probe becomes the health check; emptyDir a volume; the token volume is left out', () => {
  const { input } = podTaskDefinition(
    pod({
      containers: [
        {
          name: 'app',
          image: 'a',
          livenessProbe: { exec: { command: ['true'] }, periodSeconds: 1, failureThreshold: 20 },
          volumeMounts: [
            { name: 'scratch', mountPath: '/tmp/s' },
            { name: 'kube-api-access-x', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
          ],
        },
      ],
      volumes: [
        { name: 'scratch', emptyDir: {} },
        {
          name: 'kube-api-access-x',
          projected: {
            sources: [
              { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
            ],
          },
        },
      ],
    }),
    settings,
  );
  const [app] = input.containerDefinitions ?? [];
  assert.deepEqual(app?.healthCheck, {
    command: ['CMD', 'true'],
    interval: 5,
    timeout: 2,
    retries: 10,
    startPeriod: 0,
  });
  assert.deepEqual(input.volumes, [{ name: 'scratch' }]);
  assert.deepEqual(app?.mountPoints, [{ sourceVolume: 'scratch', containerPath: '/tmp/s', readOnly: false }]);
});

test('identical pods share a family; a different spec, node or task role gets another', () => {
  const family = (p: Pod, s = settings) => podTaskDefinition(p, s).input.family;
  const base = family(pod({}));
  assert.equal(family({ ...pod({}), metadata: { namespace: 'other', name: 'q', uid: 'u2' } }), base);
  assert.notEqual(family(pod({ containers: [{ name: 'app', image: 'nginx:1.28' }] })), base);
  assert.notEqual(family(pod({}), { ...settings, nodeName: 'vk-2' }), base);
  const role = 'arn:aws:iam::123456789012:role/pod-role';
  const withRole = podTaskDefinition(pod({}, { [TASK_ROLE_ANNOTATION]: role }), settings);
  assert.equal(withRole.input.taskRoleArn, role);
  assert.notEqual(withRole.input.family, base);
});

test('what Fargate cannot run is refused as invalid input, with the reason', () => {
  const refused = (spec: Partial<NonNullable<Pod['spec']>>, pattern: RegExp, annotations?: Record<string, string>) =>
    assert.throws(
      () => podTaskDefinition(pod(spec, annotations), settings),
      (error: Error) => isInvalidInput(error) && pattern.test(error.message),
    );
  refused({ volumes: [{ name: 'c', configMap: { name: 'x' } }] }, /volume "c" \(configMap\).*only emptyDir/);
  refused({ hostNetwork: true }, /hostNetwork/);
  refused({ containers: [{ name: 'a', image: 'a', securityContext: { privileged: true } }] }, /privileged/);
  refused({ containers: [{ name: 'a', image: 'a', ports: [{ containerPort: 1, protocol: 'SCTP' }] }] }, /TCP and UDP/);
  refused(
    { containers: [{ name: 'a', image: 'a', resources: { requests: { cpu: '17' } } }] },
    /more than any Fargate task/,
  );
  refused({ containers: Array.from({ length: 11 }, (_, i) => ({ name: `c${i}`, image: 'x' })) }, /at most 10/);
  refused({}, /must be an IAM role ARN/, { [TASK_ROLE_ANNOTATION]: 'not-an-arn' });
});
