/**
 * A pod spec as an ECS task definition for Fargate (pure: no AWS calls).
 *
 * - Containers become container definitions: `command` → `entryPoint`, `args` → `command` (as
 *   Docker's ENTRYPOINT/CMD), the resolved `env`, ports, working directory, TTY/stdin, user, a
 *   read-only root filesystem, and an exec liveness (else readiness) probe as the ECS health check.
 * - Every app container is essential (when one exits, Fargate stops the task: Fargate restarts
 *   no container). Init containers are non-essential and run one after another (`dependsOn`
 *   SUCCESS, which also makes a failing one stop the task); sidecars (init containers with
 *   `restartPolicy: Always`) start first (`dependsOn` START) and are non-essential.
 * - Resources: the task gets the smallest valid Fargate size that holds the pod (the sum of its
 *   app containers and sidecars, or its largest init container, by limit else request);
 *   container `cpu` and `memoryReservation` from requests, `memory` (the hard limit) from limits.
 *   A container that requests no memory gets an even share of what is left as its reservation
 *   (moto, like ECS on EC2, wants each container to name some memory).
 * - Volumes: `emptyDir` becomes a task volume (on the task's ephemeral storage); the projected
 *   service-account token volume that Kubernetes adds to every pod is left out (no file can be
 *   put into a Fargate task); any other volume is refused as invalid input.
 *
 * The family is named by a digest of everything above plus the node, so identical pods on one
 * node share one task definition and a changed spec gets its own.
 */
import { createHash } from 'node:crypto';
import type {
  ContainerDefinition,
  ContainerDependency,
  HealthCheck,
  KeyValuePair,
  PortMapping,
  RegisterTaskDefinitionCommandInput,
  Volume,
} from '@aws-sdk/client-ecs';
import type { Container, Pod, Probe } from 'kubernetes-types/core/v1.js';
import { InvalidInputError } from '../../errors.ts';
import { quantityMilliValue, quantityValue } from '../../kube/quantity.ts';
import { smallestFargateSize, type TaskSize } from './fargate-sizes.ts';
import { LABEL_CONTAINER_KIND } from './task-identity.ts';

/** Per-pod task role: this annotation overrides the configured `taskRoleArn`. */
export const TASK_ROLE_ANNOTATION = 'fargate.virtual-kubelet.io/task-role-arn';

/** ECS allows at most 10 containers in a task definition. */
export const MAX_CONTAINERS = 10;

/** Fargate's stopTimeout range (seconds between SIGTERM and SIGKILL). */
const STOP_TIMEOUT = { min: 2, max: 120 };

export type ContainerKind = 'init' | 'sidecar' | 'app';

/** What the task definition needs beyond the pod. */
export interface TaskDefinitionSettings {
  nodeName: string;
  cpuArchitecture: 'X86_64' | 'ARM64';
  executionRoleArn: string | undefined;
  taskRoleArn: string | undefined;
  logGroup: string | undefined;
  logStreamPrefix: string;
  region: string | undefined;
  /** Prefix of family names. */
  familyPrefix?: string;
}

export interface PodTaskDefinition {
  /** What RegisterTaskDefinition takes (without tags, which do not change the digest). */
  input: RegisterTaskDefinitionCommandInput & { family: string };
  size: TaskSize;
  /** Each ECS container's Kubernetes kind, by name. */
  kinds: Record<string, ContainerKind>;
}

const MiB = 1024 * 1024;

function cpuUnits(quantity: string | undefined): number {
  return quantity === undefined ? 0 : Math.ceil((quantityMilliValue(quantity) * 1024) / 1000);
}

function memoryMiB(quantity: string | undefined): number {
  return quantity === undefined ? 0 : Math.ceil(quantityValue(quantity) / MiB);
}

/** A container's claim on the task: its limit where set, else its request. */
function claim(container: Container): { cpu: number; memory: number } {
  const { requests = {}, limits = {} } = container.resources ?? {};
  return {
    cpu: cpuUnits(limits.cpu ?? requests.cpu),
    memory: memoryMiB(limits.memory ?? requests.memory),
  };
}

/** The task size the pod needs (the kubelet's effective pod resources, as for the scheduler). */
export function podTaskSize(pod: Pod): TaskSize {
  const spec = pod.spec;
  const inits = (spec?.initContainers ?? []).filter((c) => c.restartPolicy !== 'Always');
  const longRunning = [
    ...(spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always'),
    ...(spec?.containers ?? []),
  ];
  const sum = longRunning
    .map(claim)
    .reduce((a, b) => ({ cpu: a.cpu + b.cpu, memory: a.memory + b.memory }), { cpu: 0, memory: 0 });
  const cpu = Math.max(sum.cpu, ...inits.map((c) => claim(c).cpu));
  const memory = Math.max(sum.memory, ...inits.map((c) => claim(c).memory));
  return smallestFargateSize(cpu, memory);
}

/** An exec probe as an ECS health check; undefined for probes ECS cannot run (httpGet, tcpSocket, grpc). */
export function healthCheckOf(probe: Probe | undefined): HealthCheck | undefined {
  const command = probe?.exec?.command;
  if (!command || command.length === 0) return undefined;
  const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));
  return {
    command: ['CMD', ...command],
    interval: clamp(probe.periodSeconds ?? 10, 5, 300),
    timeout: clamp(probe.timeoutSeconds ?? 1, 2, 60),
    retries: clamp(probe.failureThreshold ?? 3, 1, 10),
    startPeriod: clamp(probe.initialDelaySeconds ?? 0, 0, 300),
  };
}

function portMappings(container: Container, where: string): PortMapping[] {
  return (container.ports ?? []).map((port) => {
    const protocol = (port.protocol ?? 'TCP').toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp') {
      throw new InvalidInputError(
        `${where}: port ${port.containerPort}/${port.protocol}: Fargate supports TCP and UDP only`,
      );
    }
    if (port.hostPort !== undefined && port.hostPort !== 0 && port.hostPort !== port.containerPort) {
      throw new InvalidInputError(
        `${where}: hostPort ${port.hostPort} differs from containerPort ${port.containerPort}: awsvpc tasks have their own address, so the ports are the same`,
      );
    }
    return { containerPort: port.containerPort, protocol };
  });
}

function environment(container: Container): KeyValuePair[] {
  // Values arrive resolved (valueFrom and $(VAR) expanded by the controller); a later entry wins, as in Kubernetes.
  const byName = new Map<string, string>();
  for (const env of container.env ?? []) byName.set(env.name, env.value ?? '');
  return [...byName].map(([name, value]) => ({ name, value }));
}

/** The volumes the pod mounts that a Fargate task can have, or InvalidInputError for the first that it cannot. */
function taskVolumes(pod: Pod, where: string): { volumes: Volume[]; skipped: Set<string> } {
  const volumes: Volume[] = [];
  const skipped = new Set<string>();
  for (const volume of pod.spec?.volumes ?? []) {
    if (volume.emptyDir) {
      if (volume.emptyDir.medium === 'Memory') {
        throw new InvalidInputError(
          `${where}: volume "${volume.name}": emptyDir with medium Memory is not available on Fargate`,
        );
      }
      volumes.push({ name: volume.name });
    } else if (isServiceAccountTokenVolume(volume)) {
      skipped.add(volume.name);
    } else {
      const kind = Object.keys(volume).find((k) => k !== 'name') ?? 'unknown';
      throw new InvalidInputError(
        `${where}: volume "${volume.name}" (${kind}) cannot be mounted on Fargate: only emptyDir volumes are supported`,
      );
    }
  }
  return { volumes, skipped };
}

/** The `kube-api-access-*` volume the ServiceAccount admission plugin adds: a token, the CA and the namespace. */
function isServiceAccountTokenVolume(volume: NonNullable<NonNullable<Pod['spec']>['volumes']>[number]): boolean {
  const sources = volume.projected?.sources;
  return (
    !!sources &&
    sources.some((s) => s.serviceAccountToken) &&
    sources.every((s) => s.serviceAccountToken || s.configMap?.name === 'kube-root-ca.crt' || s.downwardAPI)
  );
}

/** Canonical JSON (sorted keys), so the digest does not depend on property order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The task definition for a pod. Throws InvalidInputError for a pod Fargate cannot run. */
export function podTaskDefinition(pod: Pod, settings: TaskDefinitionSettings): PodTaskDefinition {
  const where = `pod ${pod.metadata?.namespace}/${pod.metadata?.name}`;
  const spec = pod.spec;
  if (!spec || (spec.containers ?? []).length === 0) throw new InvalidInputError(`${where} has no containers`);
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) {
    throw new InvalidInputError(`${where}: hostNetwork, hostPID and hostIPC are not available on Fargate`);
  }
  if ((spec.ephemeralContainers ?? []).length > 0) {
    throw new InvalidInputError(`${where}: ephemeral containers cannot be added to a Fargate task`);
  }
  const inits = (spec.initContainers ?? []).filter((c) => c.restartPolicy !== 'Always');
  const sidecars = (spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  const all: { container: Container; kind: ContainerKind }[] = [
    ...(spec.initContainers ?? []).map((container) => ({
      container,
      kind: (container.restartPolicy === 'Always' ? 'sidecar' : 'init') as ContainerKind,
    })),
    ...spec.containers.map((container) => ({ container, kind: 'app' as ContainerKind })),
  ];
  if (all.length > MAX_CONTAINERS) {
    throw new InvalidInputError(
      `${where} has ${all.length} containers; an ECS task definition holds at most ${MAX_CONTAINERS}`,
    );
  }
  const size = podTaskSize(pod);
  const { volumes, skipped } = taskVolumes(pod, where);

  // Containers that name no memory share what the others leave.
  const explicit = all.reduce((sum, { container }) => {
    const { requests = {}, limits = {} } = container.resources ?? {};
    return sum + memoryMiB(requests.memory ?? limits.memory);
  }, 0);
  const unnamed = all.filter(
    ({ container }) => !container.resources?.requests?.memory && !container.resources?.limits?.memory,
  ).length;
  const share = unnamed > 0 ? Math.max(6, Math.floor((size.memoryMiB - explicit) / unnamed)) : 0;

  const stopTimeout = Math.min(STOP_TIMEOUT.max, Math.max(STOP_TIMEOUT.min, spec.terminationGracePeriodSeconds ?? 30));
  const kinds: Record<string, ContainerKind> = {};
  const containerDefinitions: ContainerDefinition[] = all.map(({ container, kind }) => {
    const at = `${where} container "${container.name}"`;
    kinds[container.name] = kind;
    if (container.securityContext?.privileged)
      throw new InvalidInputError(`${at}: privileged containers are not available on Fargate`);
    const { requests = {}, limits = {} } = container.resources ?? {};
    const dependsOn: ContainerDependency[] = [];
    if (kind === 'init') {
      // One after another, as the kubelet runs them.
      const previous = inits[inits.indexOf(container) - 1];
      if (previous) dependsOn.push({ containerName: previous.name, condition: 'SUCCESS' });
    } else {
      for (const init of inits) {
        if (
          (spec.initContainers ?? []).indexOf(init) < (spec.initContainers ?? []).indexOf(container) ||
          kind === 'app'
        ) {
          dependsOn.push({ containerName: init.name, condition: 'SUCCESS' });
        }
      }
      if (kind === 'app')
        for (const sidecar of sidecars) dependsOn.push({ containerName: sidecar.name, condition: 'START' });
    }
    const memoryLimit = limits.memory ? memoryMiB(limits.memory) : undefined;
    const memoryReservation = requests.memory ? memoryMiB(requests.memory) : memoryLimit ? undefined : share;
    const healthCheck =
      kind === 'init' ? undefined : (healthCheckOf(container.livenessProbe) ?? healthCheckOf(container.readinessProbe));
    const user = container.securityContext?.runAsUser ?? spec.securityContext?.runAsUser;
    const group = container.securityContext?.runAsGroup ?? spec.securityContext?.runAsGroup;
    const mountPoints = (container.volumeMounts ?? [])
      .filter((m) => !skipped.has(m.name))
      .map((m) => {
        if (!volumes.some((v) => v.name === m.name))
          throw new InvalidInputError(`${at}: volumeMount "${m.name}" names no volume of the pod`);
        if (m.subPath || m.subPathExpr)
          throw new InvalidInputError(`${at}: volumeMount "${m.name}": subPath is not available on Fargate`);
        return { sourceVolume: m.name, containerPath: m.mountPath, readOnly: m.readOnly ?? false };
      });
    const definition: ContainerDefinition = {
      name: container.name,
      image: container.image,
      essential: kind === 'app',
      ...(container.command ? { entryPoint: container.command } : {}),
      ...(container.args ? { command: container.args } : {}),
      ...(container.workingDir ? { workingDirectory: container.workingDir } : {}),
      environment: environment(container),
      portMappings: portMappings(container, at),
      cpu: cpuUnits(requests.cpu ?? limits.cpu),
      ...(memoryLimit !== undefined ? { memory: memoryLimit } : {}),
      ...(memoryReservation !== undefined ? { memoryReservation } : {}),
      ...(dependsOn.length > 0 ? { dependsOn } : {}),
      ...(healthCheck ? { healthCheck } : {}),
      ...(mountPoints.length > 0 ? { mountPoints } : {}),
      ...(container.tty ? { pseudoTerminal: true } : {}),
      ...(container.stdin ? { interactive: true } : {}),
      ...(container.securityContext?.readOnlyRootFilesystem ? { readonlyRootFilesystem: true } : {}),
      ...(user !== undefined ? { user: group !== undefined ? `${user}:${group}` : String(user) } : {}),
      stopTimeout,
      dockerLabels: { [LABEL_CONTAINER_KIND]: kind },
      ...(settings.logGroup
        ? {
            logConfiguration: {
              logDriver: 'awslogs',
              options: {
                'awslogs-group': settings.logGroup,
                'awslogs-stream-prefix': settings.logStreamPrefix,
                ...(settings.region ? { 'awslogs-region': settings.region } : {}),
              },
            },
          }
        : {}),
    };
    return definition;
  });

  const taskRoleArn = pod.metadata?.annotations?.[TASK_ROLE_ANNOTATION] ?? settings.taskRoleArn;
  if (taskRoleArn !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(taskRoleArn)) {
    throw new InvalidInputError(
      `${where}: annotation ${TASK_ROLE_ANNOTATION} must be an IAM role ARN, got "${taskRoleArn}"`,
    );
  }
  const ephemeral = ephemeralStorageGiB(pod);
  const body: Omit<RegisterTaskDefinitionCommandInput, 'family'> = {
    requiresCompatibilities: ['FARGATE'],
    networkMode: 'awsvpc',
    cpu: String(size.cpu),
    memory: String(size.memoryMiB),
    runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: settings.cpuArchitecture },
    containerDefinitions,
    ...(volumes.length > 0 ? { volumes } : {}),
    ...(settings.executionRoleArn ? { executionRoleArn: settings.executionRoleArn } : {}),
    ...(taskRoleArn ? { taskRoleArn } : {}),
    ...(ephemeral ? { ephemeralStorage: { sizeInGiB: ephemeral } } : {}),
  };
  const digest = createHash('sha256')
    .update(settings.nodeName)
    .update('\0')
    .update(canonical(body))
    .digest('hex')
    .slice(0, 24);
  return { input: { family: `${settings.familyPrefix ?? 'vk'}-${digest}`, ...body }, size, kinds };
}

/** Fargate gives 20 GiB of ephemeral storage; a pod that asks for more gets up to 200 GiB. */
function ephemeralStorageGiB(pod: Pod): number | undefined {
  let bytes = 0;
  for (const container of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    const { requests = {}, limits = {} } = container.resources ?? {};
    const quantity = limits['ephemeral-storage'] ?? requests['ephemeral-storage'];
    if (quantity) bytes += quantityValue(quantity);
  }
  const gib = Math.ceil(bytes / (1024 * MiB));
  if (gib <= 20) return undefined;
  if (gib > 200) {
    throw new InvalidInputError(
      `pod ${pod.metadata?.namespace}/${pod.metadata?.name} needs ${gib} GiB of ephemeral storage; Fargate gives at most 200 GiB`,
    );
  }
  return gib;
}
