/**
 * The downward API's `resourceFieldRef` for environment variables: a container's limit or request,
 * in units of a divisor, rounded up. The Go virtual-kubelet silently drops these variables; this follows
 * the kubelet.
 *
 * Defaults, as the kubelet applies them:
 * - a CPU, memory or ephemeral-storage limit that is missing or zero becomes the pod-level limit
 *   (`spec.resources.limits`, CPU and memory only) or else the node's allocatable amount;
 * - a missing request becomes the container's own explicit limit (what the API server's defaulting
 *   does, so this only matters for pods that did not come from it), or else zero;
 * - huge pages are never defaulted from the node (they are never overcommitted).
 */
import type { Container, Pod, ResourceFieldSelector, ResourceRequirements } from 'kubernetes-types/core/v1.js';
import { InvalidInputError } from '../../errors.ts';
import { type DivisorResolution, divideQuantityCeil, formatInteger, isZeroQuantity } from '../../kube/quantity.ts';

/** What a `resourceFieldRef` needs from a container: its name and resources. */
export interface ResourceOwner {
  readonly name: string;
  readonly resources?: ResourceRequirements | undefined;
}

const HUGEPAGES_PREFIX = 'hugepages-';

/** Resources whose missing limit falls back to the node's allocatable amount. */
const NODE_DEFAULTED: ReadonlySet<string> = new Set(['cpu', 'memory', 'ephemeral-storage']);

/** Resources a pod-level limit (`spec.resources`) can stand in for. */
const POD_LEVEL: ReadonlySet<string> = new Set(['cpu', 'memory']);

function findContainer(pod: Pod, name: string): Container {
  const found =
    pod.spec?.containers?.find((container) => container.name === name) ??
    pod.spec?.initContainers?.find((container) => container.name === name);
  if (found === undefined) throw new InvalidInputError(`container ${name} not found`);
  return found;
}

function podLevelLimit(pod: Pod, resource: string): string | undefined {
  if (!POD_LEVEL.has(resource)) return undefined;
  // spec.resources (pod-level resources, Kubernetes 1.32+) is newer than our kubernetes-types.
  const limit = (pod.spec as { resources?: ResourceRequirements } | undefined)?.resources?.limits?.[resource];
  return limit === undefined || isZeroQuantity(String(limit)) ? undefined : limit;
}

function effectiveLimit(
  pod: Pod,
  owner: ResourceOwner,
  resource: string,
  nodeAllocatable: Readonly<Record<string, string>>,
): string | undefined {
  const explicit = owner.resources?.limits?.[resource];
  if (!NODE_DEFAULTED.has(resource)) return explicit;
  if (explicit !== undefined && !isZeroQuantity(String(explicit))) return explicit;
  return podLevelLimit(pod, resource) ?? nodeAllocatable[resource] ?? explicit;
}

/**
 * The value of `selector` for `container` of `pod`, as the string the kubelet would set. Throws
 * {@link InvalidInputError} for an unsupported resource, an unknown `containerName` or a malformed
 * quantity.
 */
export function resolveResourceFieldRef(
  selector: ResourceFieldSelector,
  pod: Pod,
  container: ResourceOwner,
  nodeAllocatable: Readonly<Record<string, string>>,
): string {
  const owner: ResourceOwner = selector.containerName ? findContainer(pod, selector.containerName) : container;
  const field = selector.resource ?? '';
  const dot = field.indexOf('.');
  const kind = field.slice(0, dot);
  const resource = field.slice(dot + 1);
  const supported =
    dot > 0 &&
    (kind === 'limits' || kind === 'requests') &&
    (NODE_DEFAULTED.has(resource) ||
      (resource.startsWith(HUGEPAGES_PREFIX) && resource.length > HUGEPAGES_PREFIX.length));
  if (!supported) throw new InvalidInputError(`unsupported container resource: ${field}`);

  const quantity =
    kind === 'limits'
      ? effectiveLimit(pod, owner, resource, nodeAllocatable)
      : (owner.resources?.requests?.[resource] ?? owner.resources?.limits?.[resource]);
  const resolution: DivisorResolution = resource === 'cpu' ? 'milli' : 'unit';
  const divisor = selector.divisor === undefined || selector.divisor === '' ? undefined : String(selector.divisor);
  // Quantities are strings on the wire, but hand-written objects often hold plain numbers.
  return formatInteger(divideQuantityCeil(quantity === undefined ? '0' : String(quantity), divisor, resolution));
}
