/**
 * The Node object a virtual kubelet registers, before the provider adjusts it: labels, the
 * provider taint, addresses, the kubelet endpoint, node info and the standard conditions.
 */
import type { Node, NodeCondition, Taint } from 'kubernetes-types/core/v1.js';

/** The kubelet API's port unless `KUBELET_PORT` says otherwise; published in `status.daemonEndpoints`. */
export const DEFAULT_KUBELET_PORT = 10250;

/** `virtual-kubelet.io/provider`: the taint key the Go implementation uses. */
export const DEFAULT_TAINT_KEY = 'virtual-kubelet.io/provider';

export interface NodeTemplateOptions {
  name: string;
  /** The provider's name: the default taint's value. */
  provider: string;
  /** `linux` or `windows`. Default `linux`. */
  operatingSystem?: string;
  /** Default: this machine's architecture in Go's spelling (`amd64`, `arm64`). */
  architecture?: string;
  /** Reported as `status.nodeInfo.kubeletVersion`. */
  kubeletVersion?: string;
  /** The address the API server uses to reach this kubelet's HTTPS API. */
  internalIP?: string;
  /** Published as a Hostname address too, when the name resolves for the API server. */
  hostname?: string;
  /** `status.daemonEndpoints.kubeletEndpoint.Port`. Default 10250. */
  kubeletPort?: number;
  /** The taint that keeps ordinary pods off the node; `false` for none. Default `virtual-kubelet.io/provider=<provider>:NoSchedule`. */
  taint?: Taint | false;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /**
   * `status.declaredFeatures` (Kubernetes 1.35+ NodeDeclaredFeatures). Declaring
   * `ExtendWebSocketsToKubelet` makes API servers from 1.36 on pass exec/attach/port-forward
   * WebSockets straight through instead of translating them to SPDY.
   */
  declaredFeatures?: string[];
}

/** Go's GOARCH for Node's `process.arch`. */
export function goArchitecture(arch: string = process.arch): string {
  switch (arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    case 'ppc64':
      return 'ppc64le';
    default:
      return arch;
  }
}

/** Conditions of a healthy node; `lastHeartbeatTime`/`lastTransitionTime` are filled in when posted. */
export function defaultConditions(): NodeCondition[] {
  return [
    {
      type: 'MemoryPressure',
      status: 'False',
      reason: 'KubeletHasSufficientMemory',
      message: 'kubelet has sufficient memory available',
    },
    {
      type: 'DiskPressure',
      status: 'False',
      reason: 'KubeletHasNoDiskPressure',
      message: 'kubelet has no disk pressure',
    },
    {
      type: 'PIDPressure',
      status: 'False',
      reason: 'KubeletHasSufficientPID',
      message: 'kubelet has sufficient PID available',
    },
    { type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'virtual kubelet is starting' },
  ];
}

/** Builds the Node to register. The provider's `configureNode` may then change it. */
export function nodeTemplate(options: NodeTemplateOptions): Node {
  const operatingSystem = options.operatingSystem ?? 'linux';
  const architecture = options.architecture ?? goArchitecture();
  const taints: Taint[] = [];
  if (options.taint !== false) {
    taints.push(options.taint ?? { key: DEFAULT_TAINT_KEY, value: options.provider, effect: 'NoSchedule' });
  }
  const addresses = [];
  if (options.internalIP) addresses.push({ type: 'InternalIP', address: options.internalIP });
  if (options.hostname) addresses.push({ type: 'Hostname', address: options.hostname });
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: options.name,
      labels: {
        type: 'virtual-kubelet',
        'kubernetes.io/role': 'agent',
        'kubernetes.io/hostname': options.name,
        'kubernetes.io/os': operatingSystem,
        'kubernetes.io/arch': architecture,
        'beta.kubernetes.io/os': operatingSystem,
        'beta.kubernetes.io/arch': architecture,
        ...options.labels,
      },
      ...(options.annotations ? { annotations: { ...options.annotations } } : {}),
    },
    spec: taints.length > 0 ? { taints } : {},
    status: {
      addresses,
      daemonEndpoints: { kubeletEndpoint: { Port: options.kubeletPort ?? DEFAULT_KUBELET_PORT } },
      nodeInfo: {
        architecture,
        operatingSystem,
        kubeletVersion: options.kubeletVersion ?? 'v1.37.2-vk',
        kubeProxyVersion: '',
        osImage: '',
        kernelVersion: '',
        containerRuntimeVersion: `${options.provider}://`,
        bootID: '',
        machineID: '',
        systemUUID: '',
      },
      capacity: {},
      allocatable: {},
      conditions: defaultConditions(),
      ...(options.declaredFeatures?.length ? { declaredFeatures: [...options.declaredFeatures] } : {}),
    } as Node['status'],
  };
}
