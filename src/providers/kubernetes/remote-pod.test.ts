import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { isInvalidInput } from '../../errors.ts';
import {
  ANNOTATION_ORIGIN_NAME,
  LABEL_ORIGIN_CLUSTER,
  LABEL_ORIGIN_NODE,
  LABEL_ORIGIN_UID,
  labelSafe,
  localStatusFromRemote,
  originOf,
  ownedPodsSelector,
  type RemotePodContext,
  remoteEphemeralContainers,
  remoteNamespaceName,
  remotePodFromPod,
  statusAfterRemoteDeletion,
} from './remote-pod.ts';

const context: RemotePodContext = {
  originCluster: 'hub',
  nodeName: 'vk-remote',
  remoteNamespace: 'hub-shop',
  nodeLabels: { type: 'virtual-kubelet', 'kubernetes.io/hostname': 'vk-remote', 'kubernetes.io/os': 'linux' },
  labels: { team: 'burst' },
  annotations: { contact: 'ops' },
};

function localPod(
  spec: Partial<NonNullable<Pod['spec']>> = {},
  metadata: Partial<NonNullable<Pod['metadata']>> = {},
): Pod {
  return {
    metadata: {
      name: 'web-1',
      namespace: 'shop',
      uid: 'uid-1',
      resourceVersion: '42',
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { app: 'web' },
      annotations: { note: 'x' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'rs-uid', controller: true }],
      finalizers: ['example.com/hold'],
      ...metadata,
    },
    spec: {
      nodeName: 'vk-remote',
      serviceAccountName: 'builder',
      priority: 0,
      priorityClassName: 'low',
      schedulerName: 'default-scheduler',
      terminationGracePeriodSeconds: 7,
      restartPolicy: 'Always',
      tolerations: [{ key: 'virtual-kubelet.io/provider', operator: 'Exists' }],
      containers: [
        {
          name: 'app',
          image: 'httpd',
          env: [{ name: 'A', value: '1' }],
          volumeMounts: [
            { name: 'kube-api-access-abcde', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
            { name: 'data', mountPath: '/data' },
          ],
        },
      ],
      volumes: [
        {
          name: 'kube-api-access-abcde',
          projected: {
            sources: [
              { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            ],
          },
        },
        { name: 'data', emptyDir: {} },
      ],
      ...spec,
    },
  } as Pod;
}

test('the remote pod keeps the containers and loses what belongs to the origin', () => {
  const remote = remotePodFromPod(localPod(), context);
  assert.equal(remote.metadata?.name, 'web-1');
  assert.equal(remote.metadata?.namespace, 'hub-shop');
  for (const field of ['uid', 'resourceVersion', 'creationTimestamp', 'ownerReferences', 'finalizers'] as const) {
    assert.equal(remote.metadata?.[field], undefined, field);
  }
  const spec = remote.spec;
  assert.ok(spec);
  for (const field of ['nodeName', 'serviceAccountName', 'priority', 'priorityClassName', 'schedulerName'] as const) {
    assert.equal(spec[field], undefined, field);
  }
  assert.equal(spec.automountServiceAccountToken, false);
  assert.equal(spec.enableServiceLinks, false);
  assert.equal(spec.terminationGracePeriodSeconds, 7);
  assert.equal(spec.restartPolicy, 'Always');
  assert.deepEqual(spec.tolerations, [{ key: 'virtual-kubelet.io/provider', operator: 'Exists' }]);
  assert.deepEqual(
    spec.volumes?.map((v) => v.name),
    ['data'],
  );
  assert.deepEqual(spec.containers[0]?.volumeMounts, [{ name: 'data', mountPath: '/data' }]);
  assert.deepEqual(spec.containers[0]?.env, [{ name: 'A', value: '1' }]);
});

test('the remote pod is stamped with who owns it, over the pod and config labels', () => {
  const remote = remotePodFromPod(localPod({}, { labels: { app: 'web', [LABEL_ORIGIN_UID]: 'forged' } }), context);
  assert.deepEqual(remote.metadata?.labels, {
    app: 'web',
    team: 'burst',
    [LABEL_ORIGIN_CLUSTER]: 'hub',
    [LABEL_ORIGIN_NODE]: 'vk-remote',
    'virtual-kubelet.io/origin-namespace': 'shop',
    [LABEL_ORIGIN_UID]: 'uid-1',
  });
  assert.equal(remote.metadata?.annotations?.[ANNOTATION_ORIGIN_NAME], 'web-1');
  assert.equal(remote.metadata?.annotations?.contact, 'ops');
  assert.equal(remote.metadata?.annotations?.note, 'x');
  assert.deepEqual(originOf(remote), { namespace: 'shop', name: 'web-1', uid: 'uid-1' });
  assert.equal(originOf({ metadata: { name: 'other', labels: {} } }), undefined);
  assert.equal(ownedPodsSelector(context), `${LABEL_ORIGIN_CLUSTER}=hub,${LABEL_ORIGIN_NODE}=vk-remote`);
});

test('scheduling terms that selected the virtual node are dropped, the others kept', () => {
  const remote = remotePodFromPod(
    localPod({
      nodeSelector: { type: 'virtual-kubelet', disk: 'ssd' },
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              {
                matchExpressions: [
                  { key: 'kubernetes.io/hostname', operator: 'In', values: ['vk-remote'] },
                  { key: 'zone', operator: 'In', values: ['a'] },
                ],
              },
            ],
          },
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: 1,
              preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['vk-remote'] }] },
            },
            { weight: 2, preference: { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] } },
          ],
        },
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 1, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: {} } },
          ],
        },
      },
    }),
    context,
  );
  assert.deepEqual(remote.spec?.nodeSelector, { disk: 'ssd' });
  assert.deepEqual(remote.spec?.affinity?.nodeAffinity, {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }],
    },
    preferredDuringSchedulingIgnoredDuringExecution: [
      { weight: 2, preference: { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] } },
    ],
  });
  assert.ok(remote.spec?.affinity?.podAntiAffinity);
});

test('a required node affinity with a term that only named the virtual node is dropped whole (terms are ORed)', () => {
  const remote = remotePodFromPod(
    localPod({
      nodeSelector: { type: 'virtual-kubelet' },
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['vk-remote'] }] },
              { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
            ],
          },
        },
      },
    }),
    context,
  );
  assert.equal(remote.spec?.nodeSelector, undefined);
  assert.equal(remote.spec?.affinity, undefined);
});

test('namespaces map explicitly, else by prefix, else by name; too long is the pod’s error', () => {
  assert.equal(remoteNamespaceName('shop', { map: {}, prefix: '', create: true }), 'shop');
  assert.equal(remoteNamespaceName('shop', { map: {}, prefix: 'hub', create: true }), 'hub-shop');
  assert.equal(remoteNamespaceName('shop', { map: { shop: 'team-a' }, prefix: 'hub', create: true }), 'team-a');
  assert.throws(
    () => remoteNamespaceName('n'.repeat(60), { map: {}, prefix: 'hub', create: true }),
    (error: unknown) => isInvalidInput(error) && /longer than 63 characters/.test(String(error)),
  );
});

test('a node name that is not a label value is hashed, stably', () => {
  assert.equal(labelSafe('vk-1'), 'vk-1');
  const long = `vk-${'x'.repeat(80)}`;
  assert.equal(labelSafe(long), labelSafe(long));
  assert.ok(labelSafe(long).length <= 63);
  assert.notEqual(labelSafe(long), labelSafe(`${long}y`));
});

test('the remote status comes back without the host IP and the remote scheduler’s condition', () => {
  const status = localStatusFromRemote({
    status: {
      phase: 'Running',
      hostIP: '10.9.9.9',
      podIP: '10.88.0.5',
      podIPs: [{ ip: '10.88.0.5' }],
      startTime: '2026-01-01T00:00:00Z',
      qosClass: 'BestEffort',
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Ready', status: 'True' },
        { type: 'ContainersReady', status: 'True' },
      ],
      containerStatuses: [
        {
          name: 'app',
          image: 'httpd',
          imageID: 'sha256:1',
          ready: true,
          restartCount: 2,
          state: { running: { startedAt: '2026-01-01T00:00:01Z' } },
        },
      ],
    },
  });
  assert.deepEqual(status, {
    phase: 'Running',
    podIP: '10.88.0.5',
    podIPs: [{ ip: '10.88.0.5' }],
    startTime: '2026-01-01T00:00:00Z',
    conditions: [
      { type: 'Ready', status: 'True' },
      { type: 'ContainersReady', status: 'True' },
    ],
    containerStatuses: [
      {
        name: 'app',
        image: 'httpd',
        imageID: 'sha256:1',
        ready: true,
        restartCount: 2,
        state: { running: { startedAt: '2026-01-01T00:00:01Z' } },
      },
    ],
  });
});

test('a remote pod the remote scheduler cannot place says why', () => {
  const status = localStatusFromRemote({
    status: {
      phase: 'Pending',
      conditions: [
        { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available' },
      ],
    },
  });
  assert.equal(status.phase, 'Pending');
  assert.equal(status.reason, 'Unschedulable');
  assert.match(status.message ?? '', /remote cluster cannot schedule the pod: 0\/1 nodes are available/);
});

test('a remote pod deleted behind our back is Failed with the reason; a succeeded one stays Succeeded', () => {
  const pod = localPod();
  const failed = statusAfterRemoteDeletion(
    {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'app',
          image: 'httpd',
          imageID: '',
          ready: true,
          restartCount: 1,
          state: { running: { startedAt: 't0' } },
        },
      ],
    },
    pod,
    'gone',
  );
  assert.equal(failed.phase, 'Failed');
  assert.equal(failed.reason, 'RemotePodDeleted');
  assert.equal(failed.containerStatuses?.[0]?.state?.terminated?.exitCode, 137);
  assert.equal(failed.containerStatuses?.[0]?.restartCount, 1);
  const done = statusAfterRemoteDeletion(
    {
      phase: 'Succeeded',
      containerStatuses: [
        {
          name: 'app',
          image: 'httpd',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 0 } },
        },
      ],
    },
    pod,
    'gone',
  );
  assert.equal(done.phase, 'Succeeded');
  assert.equal(done.reason, undefined);
  assert.equal(done.containerStatuses?.[0]?.state?.terminated?.exitCode, 0);
});

test('downward API files read the local namespace and uid from our annotations; other fields are left', () => {
  const remote = remotePodFromPod(
    localPod({
      volumes: [
        {
          name: 'podinfo',
          downwardAPI: {
            items: [
              { path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } },
              { path: 'uid', fieldRef: { fieldPath: 'metadata.uid' } },
              { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
              { path: 'cpu', resourceFieldRef: { resource: 'limits.cpu', containerName: 'app' } },
            ],
          },
        },
        {
          name: 'mixed',
          projected: {
            sources: [{ downwardAPI: { items: [{ path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' } }] } }],
          },
        },
      ],
    }),
    context,
  );
  assert.deepEqual(
    remote.spec?.volumes?.[0]?.downwardAPI?.items?.map((i) => i.fieldRef?.fieldPath ?? i.resourceFieldRef?.resource),
    [
      "metadata.annotations['virtual-kubelet.io/origin-namespace']",
      "metadata.annotations['virtual-kubelet.io/origin-uid']",
      'metadata.name',
      'limits.cpu',
    ],
  );
  assert.equal(
    remote.spec?.volumes?.[1]?.projected?.sources?.[0]?.downwardAPI?.items?.[0]?.fieldRef?.fieldPath,
    "metadata.annotations['virtual-kubelet.io/origin-namespace']",
  );
  assert.equal(remote.metadata?.annotations?.['virtual-kubelet.io/origin-uid'], 'uid-1');
  assert.equal(remote.metadata?.annotations?.['virtual-kubelet.io/origin-namespace'], 'shop');
});

test('ephemeral containers go to the remote without mounts of volumes it does not have; their statuses come back', () => {
  const pod = localPod({
    ephemeralContainers: [
      {
        name: 'debugger',
        image: 'busybox',
        targetContainerName: 'app',
        volumeMounts: [
          { name: 'kube-api-access-abcde', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
          { name: 'data', mountPath: '/data' },
        ],
      },
    ],
  });
  const remote = remotePodFromPod(pod, context);
  assert.equal(remote.spec?.ephemeralContainers, undefined, 'not on create: the API refuses them there');
  const [debuggerContainer] = remoteEphemeralContainers(pod, new Set(['data']));
  assert.equal(debuggerContainer?.targetContainerName, 'app');
  assert.deepEqual(debuggerContainer?.volumeMounts, [{ name: 'data', mountPath: '/data' }]);
  const status = localStatusFromRemote({
    status: {
      phase: 'Running',
      ephemeralContainerStatuses: [
        { name: 'debugger', image: 'busybox', imageID: '', ready: false, restartCount: 0, state: { running: {} } },
      ],
    },
  });
  assert.equal(status.ephemeralContainerStatuses?.[0]?.name, 'debugger');
});
