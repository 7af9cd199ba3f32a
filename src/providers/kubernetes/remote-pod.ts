/**
 * A local pod as the remote cluster gets it, and the remote pod's status as the local pod shows
 * it: pure functions, so the rules are tested without clusters.
 *
 * What the remote pod keeps: the containers (their environment as remote-env.ts makes it: references
 * to the remote copies of ConfigMaps and Secrets, origin values for the downward API), volumes, security context, restart policy, grace period,
 * tolerations, affinity that does not name this virtual node, and the pod's own labels and
 * annotations. What it loses, because it belongs to the origin cluster: `nodeName` (the remote
 * scheduler places the pod), the scheduling terms that selected this virtual node, the origin's
 * service-account token volumes (the remote has neither that account nor its signing key), the
 * service account itself, priority class and scheduler name, owner references (the remote's garbage
 * collector would delete a pod whose owner it cannot find) and finalizers.
 */
import { createHash } from 'node:crypto';
import type {
  Container,
  EphemeralContainer,
  NodeSelectorTerm,
  Pod,
  PodCondition,
  PodSpec,
  PodStatus,
  PreferredSchedulingTerm,
  Volume,
} from 'kubernetes-types/core/v1.js';
import { InvalidInputError } from '../../errors.ts';
import { isLabelValue, type NamespaceMapping } from './config.ts';

/** The origin cluster's name (`originCluster`): label on every remote object we create. */
export const LABEL_ORIGIN_CLUSTER = 'virtual-kubelet.io/origin-cluster';
/** The virtual node that owns a remote pod (hashed when the name is not a valid label value). */
export const LABEL_ORIGIN_NODE = 'virtual-kubelet.io/origin-node';
/** The local pod's namespace. */
export const LABEL_ORIGIN_NAMESPACE = 'virtual-kubelet.io/origin-namespace';
/** The local pod's uid: how a restarted virtual kubelet adopts its remote pods. */
export const LABEL_ORIGIN_UID = 'virtual-kubelet.io/origin-uid';
/** The local pod's name (an annotation: a pod name may be longer than a label value). */
export const ANNOTATION_ORIGIN_NAME = 'virtual-kubelet.io/origin-name';
/** The local pod's namespace, as an annotation too (the label is the selector, this the record). */
export const ANNOTATION_ORIGIN_NAMESPACE = 'virtual-kubelet.io/origin-namespace';
/** The local pod's uid, as an annotation: what the remote's downward API files read for `metadata.uid`. */
export const ANNOTATION_ORIGIN_UID = 'virtual-kubelet.io/origin-uid';
/** The owner of a namespace we created. */
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'virtual-kubelet';

/** `value` when it is a valid label value, else a stable hash of it that is. */
export function labelSafe(value: string): string {
  if (isLabelValue(value)) return value;
  return `h-${createHash('sha256').update(value).digest('hex').slice(0, 40)}`;
}

/** The remote namespace for a local one: the explicit map, else `<prefix>-<ns>`, else the same name. */
export function remoteNamespaceName(localNamespace: string, mapping: NamespaceMapping): string {
  const mapped = mapping.map[localNamespace];
  if (mapped) return mapped;
  const name = mapping.prefix ? `${mapping.prefix}-${localNamespace}` : localNamespace;
  if (name.length > 63) {
    throw new InvalidInputError(
      `namespace ${localNamespace} maps to remote namespace "${name}", longer than 63 characters: map it explicitly (namespaces.map)`,
    );
  }
  return name;
}

/** Who we are, stamped on every remote object. */
export interface Ownership {
  originCluster: string;
  nodeName: string;
}

/** The label selector of every remote pod this virtual node owns. */
export function ownedPodsSelector(owner: Ownership): string {
  return `${LABEL_ORIGIN_CLUSTER}=${owner.originCluster},${LABEL_ORIGIN_NODE}=${labelSafe(owner.nodeName)}`;
}

export interface RemotePodContext extends Ownership {
  remoteNamespace: string;
  /** The virtual node's labels: terms that match them are what brought the pod here. */
  nodeLabels: Readonly<Record<string, string>>;
  /** Stamped on the remote pod (config `labels`, `annotations`). */
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  /**
   * Token volumes that are replaced rather than dropped (by name): a Secret with a token valid in
   * the origin (origin-token.ts). Their mounts stay.
   */
  replacedVolumes?: Readonly<Record<string, Volume>>;
}

/** Whether a volume carries the origin's service-account token (the admission plugin's `kube-api-access-*` or a user's projection). */
export function isServiceAccountTokenVolume(volume: Volume): boolean {
  return volume.projected?.sources?.some((source) => source.serviceAccountToken !== undefined) ?? false;
}

function withoutMounts(container: Container, dropped: ReadonlySet<string>): Container {
  if (!container.volumeMounts?.some((mount) => dropped.has(mount.name))) return container;
  return { ...container, volumeMounts: container.volumeMounts.filter((mount) => !dropped.has(mount.name)) };
}

/**
 * The remote kubelet writes downward API files from the remote pod, whose namespace and uid are
 * not the local pod's: those two fields are read from our annotations instead, which carry the
 * local values. (Name, resources and the pod's own labels and annotations are the same there,
 * plus our stamps.)
 */
const DOWNWARD_REWRITES: Readonly<Record<string, string>> = {
  'metadata.namespace': `metadata.annotations['${ANNOTATION_ORIGIN_NAMESPACE}']`,
  'metadata.uid': `metadata.annotations['${ANNOTATION_ORIGIN_UID}']`,
};

function withLocalDownwardFields<T extends { items?: { fieldRef?: { fieldPath: string } }[] }>(source: T): T {
  if (!source.items?.some((item) => item.fieldRef && DOWNWARD_REWRITES[item.fieldRef.fieldPath])) return source;
  return {
    ...source,
    items: source.items.map((item) => {
      const rewrite = item.fieldRef && DOWNWARD_REWRITES[item.fieldRef.fieldPath];
      return rewrite && item.fieldRef ? { ...item, fieldRef: { ...item.fieldRef, fieldPath: rewrite } } : item;
    }),
  };
}

/** A volume whose downward API files read the local pod's namespace and uid. */
export function withLocalDownwardVolume(volume: Volume): Volume {
  if (volume.downwardAPI) return { ...volume, downwardAPI: withLocalDownwardFields(volume.downwardAPI) };
  if (volume.projected?.sources?.some((source) => source.downwardAPI)) {
    return {
      ...volume,
      projected: {
        ...volume.projected,
        sources: volume.projected.sources.map((source) =>
          source.downwardAPI ? { ...source, downwardAPI: withLocalDownwardFields(source.downwardAPI) } : source,
        ),
      },
    };
  }
  return volume;
}

/** A node-selector term without the requirements this virtual node satisfies by name or label; undefined when nothing is left. */
function termWithoutOriginNode(
  term: NodeSelectorTerm,
  nodeLabels: Readonly<Record<string, string>>,
): NodeSelectorTerm | undefined {
  // matchFields can only say metadata.name: an origin node's name.
  const expressions = (term.matchExpressions ?? []).filter((requirement) => !(requirement.key in nodeLabels));
  if (expressions.length === 0) return undefined;
  return { matchExpressions: expressions };
}

function schedulingWithoutOriginNode(spec: PodSpec, nodeLabels: Readonly<Record<string, string>>): Partial<PodSpec> {
  const result: Partial<PodSpec> = {};
  if (spec.nodeSelector) {
    const kept = Object.fromEntries(
      Object.entries(spec.nodeSelector).filter(([key, value]) => nodeLabels[key] !== value),
    );
    if (Object.keys(kept).length > 0) result.nodeSelector = kept;
  }
  const affinity = spec.affinity;
  if (affinity) {
    const nodeAffinity = affinity.nodeAffinity;
    const { nodeAffinity: _dropped, ...otherAffinity } = affinity;
    const newAffinity: NonNullable<PodSpec['affinity']> = { ...otherAffinity };
    if (nodeAffinity) {
      const required = (nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [])
        .map((term) => termWithoutOriginNode(term, nodeLabels))
        .filter((term): term is NodeSelectorTerm => term !== undefined);
      const preferred = (nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution ?? [])
        .map((p) => ({ weight: p.weight, preference: termWithoutOriginNode(p.preference, nodeLabels) }))
        .filter((p): p is PreferredSchedulingTerm => p.preference !== undefined);
      // A required list whose every term named this node is dropped whole: terms are ORed, and
      // one of them (the one that matched here) would have been "anywhere".
      const allRequiredNamedUs =
        (nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []).length > required.length;
      const newNodeAffinity: NonNullable<typeof affinity.nodeAffinity> = {};
      if (required.length > 0 && !allRequiredNamedUs) {
        newNodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = { nodeSelectorTerms: required };
      }
      if (preferred.length > 0) newNodeAffinity.preferredDuringSchedulingIgnoredDuringExecution = preferred;
      if (Object.keys(newNodeAffinity).length > 0) newAffinity.nodeAffinity = newNodeAffinity;
    }
    if (Object.keys(newAffinity).length > 0) result.affinity = newAffinity;
  }
  return result;
}

/** The labels every remote object of this pod carries: the pod's own, the config's, and ours (which win). */
export function remotePodLabels(pod: Pod, context: RemotePodContext): Record<string, string> {
  return {
    ...pod.metadata?.labels,
    ...context.labels,
    [LABEL_ORIGIN_CLUSTER]: context.originCluster,
    [LABEL_ORIGIN_NODE]: labelSafe(context.nodeName),
    [LABEL_ORIGIN_NAMESPACE]: pod.metadata?.namespace ?? 'default',
    [LABEL_ORIGIN_UID]: pod.metadata?.uid ?? '',
  };
}

export function remotePodAnnotations(pod: Pod, context: RemotePodContext): Record<string, string> {
  return {
    ...pod.metadata?.annotations,
    ...context.annotations,
    [ANNOTATION_ORIGIN_NAMESPACE]: pod.metadata?.namespace ?? 'default',
    [ANNOTATION_ORIGIN_NAME]: pod.metadata?.name ?? '',
    [ANNOTATION_ORIGIN_UID]: pod.metadata?.uid ?? '',
  };
}

/** The pod to create in the remote cluster for a local pod. */
export function remotePodFromPod(pod: Pod, context: RemotePodContext): Pod {
  const spec = pod.spec ?? { containers: [] };
  const replaced = context.replacedVolumes ?? {};
  const tokenVolumes = new Set(
    (spec.volumes ?? [])
      .filter((volume) => isServiceAccountTokenVolume(volume) && !replaced[volume.name])
      .map((volume) => volume.name),
  );
  const {
    nodeName: _nodeName,
    nodeSelector: _nodeSelector,
    affinity: _affinity,
    serviceAccountName: _serviceAccountName,
    serviceAccount: _serviceAccount,
    automountServiceAccountToken: _automount,
    priority: _priority,
    priorityClassName: _priorityClassName,
    preemptionPolicy: _preemptionPolicy,
    schedulerName: _schedulerName,
    ephemeralContainers: _ephemeral,
    enableServiceLinks: _serviceLinks,
    volumes,
    containers,
    initContainers,
    ...kept
  } = spec;
  const remoteSpec: PodSpec = {
    ...kept,
    ...schedulingWithoutOriginNode(spec, context.nodeLabels),
    // The remote's own account would be mounted otherwise: its token means nothing to the pod's clients.
    automountServiceAccountToken: false,
    // Service-link variables are the origin's (remote-env.ts puts them in env); the remote's would be wrong.
    enableServiceLinks: false,
    containers: containers.map((container) => withoutMounts(container, tokenVolumes)),
  };
  if (initContainers?.length) remoteSpec.initContainers = initContainers.map((c) => withoutMounts(c, tokenVolumes));
  const keptVolumes = (volumes ?? [])
    .filter((volume) => !tokenVolumes.has(volume.name))
    .map((volume) => replaced[volume.name] ?? withLocalDownwardVolume(volume));
  if (keptVolumes.length > 0) remoteSpec.volumes = keptVolumes;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod.metadata?.name ?? '',
      namespace: context.remoteNamespace,
      labels: remotePodLabels(pod, context),
      annotations: remotePodAnnotations(pod, context),
    },
    spec: remoteSpec,
  };
}

/**
 * The pod's ephemeral containers (`kubectl debug`) as the remote pod gets them: without mounts of
 * volumes the remote pod does not have (the origin's token volumes it dropped).
 */
export function remoteEphemeralContainers(pod: Pod, remoteVolumes: ReadonlySet<string>): EphemeralContainer[] {
  return (pod.spec?.ephemeralContainers ?? []).map((container) => {
    if (!container.volumeMounts?.some((mount) => !remoteVolumes.has(mount.name))) return container;
    return { ...container, volumeMounts: container.volumeMounts.filter((mount) => remoteVolumes.has(mount.name)) };
  });
}

/** The local pod a remote pod stands for, from its stamps; undefined for a pod that is not one of ours. */
export function originOf(remote: Pod): { namespace: string; name: string; uid: string } | undefined {
  const labels = remote.metadata?.labels ?? {};
  const annotations = remote.metadata?.annotations ?? {};
  const uid = labels[LABEL_ORIGIN_UID];
  const namespace = annotations[ANNOTATION_ORIGIN_NAMESPACE] ?? labels[LABEL_ORIGIN_NAMESPACE];
  const name = annotations[ANNOTATION_ORIGIN_NAME];
  if (!uid || !namespace || !name) return undefined;
  return { namespace, name, uid };
}

/** The kubelet's conditions, which the remote kubelet reports and we pass on; PodScheduled is the origin scheduler's. */
const KUBELET_CONDITIONS = new Set(['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready']);

/**
 * The local pod's status from the remote pod's. The host IP is left out (the controller puts the
 * virtual node's), and a remote pod the remote scheduler cannot place says why in the message.
 */
export function localStatusFromRemote(remote: Pod): PodStatus {
  const status = remote.status ?? {};
  const local: PodStatus = { phase: status.phase ?? 'Pending' };
  const conditions = (status.conditions ?? []).filter((c) => KUBELET_CONDITIONS.has(c.type));
  if (conditions.length > 0) local.conditions = conditions.map((c) => ({ ...c }) as PodCondition);
  const scheduled = status.conditions?.find((c) => c.type === 'PodScheduled');
  if (status.message) local.message = status.message;
  if (status.reason) local.reason = status.reason;
  if (scheduled?.status === 'False' && !status.message) {
    local.reason = scheduled.reason ?? 'Unschedulable';
    local.message = `the remote cluster cannot schedule the pod: ${scheduled.message ?? scheduled.reason ?? 'no reason given'}`;
  }
  if (status.podIP) local.podIP = status.podIP;
  if (status.podIPs?.length) local.podIPs = status.podIPs.map((ip) => ({ ...ip }));
  if (status.startTime) local.startTime = status.startTime;
  if (status.containerStatuses?.length) local.containerStatuses = status.containerStatuses;
  if (status.initContainerStatuses?.length) local.initContainerStatuses = status.initContainerStatuses;
  if (status.ephemeralContainerStatuses?.length) local.ephemeralContainerStatuses = status.ephemeralContainerStatuses;
  return local;
}

/**
 * The status to report when the remote pod is gone: every container that had not ended ends
 * (137, as a kill leaves it), and the pod is Failed — unless it had already succeeded. `why` is
 * the message for a pod deleted behind our back.
 */
export function statusAfterRemoteDeletion(last: PodStatus | undefined, pod: Pod, why?: string): PodStatus {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const byName = new Map((last?.containerStatuses ?? []).map((s) => [s.name, s]));
  const containerStatuses = (pod.spec?.containers ?? []).map((container) => {
    const previous = byName.get(container.name);
    if (previous?.state?.terminated) return previous;
    return {
      name: container.name,
      image: previous?.image ?? container.image ?? '',
      imageID: previous?.imageID ?? '',
      ready: false,
      restartCount: previous?.restartCount ?? 0,
      state: {
        terminated: {
          exitCode: 137,
          reason: 'Error',
          message: why ?? 'the remote pod was deleted',
          ...(previous?.state?.running?.startedAt ? { startedAt: previous.state.running.startedAt } : {}),
          finishedAt: now,
        },
      },
    };
  });
  const succeeded = last?.phase === 'Succeeded';
  const status: PodStatus = {
    ...(last ?? {}),
    phase: succeeded ? 'Succeeded' : 'Failed',
    containerStatuses,
  };
  if (why && !succeeded) {
    status.reason = 'RemotePodDeleted';
    status.message = why;
  }
  return status;
}
