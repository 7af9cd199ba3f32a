/**
 * The downward API's `fieldRef` for environment variables: which pod fields a container can read and
 * how the kubelet prints them.
 *
 * Unlike the Go virtual-kubelet, `status.hostIP(s)` and `status.podIP(s)` are supported: the host IPs
 * are the node's, and the pod IPs are whatever the caller knows (see `EnvironmentContext.podIPs`).
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { ObjectFieldSelector, Pod } from 'kubernetes-types/core/v1.js';
import { InvalidInputError } from '../../errors.ts';
import { quoteGoString } from './go-quote.ts';

/** The runtime facts a `fieldRef` may read besides the pod itself. */
export interface DownwardValues {
  /** The node's name, used when the pod's `spec.nodeName` is empty. */
  readonly nodeName: string;
  /** The node's IPs, primary first. */
  readonly hostIPs: readonly string[];
  /** The pod's IPs, ordered as {@link orderPodIPs} does; empty when not known yet. */
  readonly podIPs: readonly string[];
}

/** Paths the API accepts for `fieldRef` that read the pod IP. */
export const POD_IP_FIELD_PATHS: ReadonlySet<string> = new Set(['status.podIP', 'status.podIPs']);

/** Paths Kubernetes' `ConvertDownwardAPIFieldLabel` knows; the kubelet only resolves some of them. */
const KNOWN_FIELD_PATHS: ReadonlySet<string> = new Set([
  'metadata.annotations',
  'metadata.labels',
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.restartPolicy',
  'spec.serviceAccountName',
  'spec.schedulerName',
  'status.phase',
  'status.hostIP',
  'status.hostIPs',
  'status.podIP',
  'status.podIPs',
]);

const QUALIFIED_NAME_MAX_LENGTH = 63;
const DNS1123_SUBDOMAIN_MAX_LENGTH = 253;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `value` is not a label or annotation key (apimachinery's `IsQualifiedName`), or undefined if it is one. */
function qualifiedNameProblem(value: string): string | undefined {
  const slash = value.indexOf('/');
  let name = value;
  if (slash >= 0) {
    if (value.indexOf('/', slash + 1) >= 0) return 'a qualified name may contain at most one "/"';
    const prefix = value.slice(0, slash);
    name = value.slice(slash + 1);
    if (prefix.length === 0) return 'prefix part must be non-empty';
    if (prefix.length > DNS1123_SUBDOMAIN_MAX_LENGTH || !DNS1123_SUBDOMAIN.test(prefix)) {
      return 'prefix part must be a lowercase RFC 1123 subdomain';
    }
  }
  if (name.length === 0) return 'name part must be non-empty';
  if (name.length > QUALIFIED_NAME_MAX_LENGTH)
    return `name part must be no more than ${QUALIFIED_NAME_MAX_LENGTH} characters`;
  if (!QUALIFIED_NAME.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  }
  return undefined;
}

/** `metadata.labels['key']` → ['metadata.labels', 'key']; anything else → undefined. */
function splitSubscript(fieldPath: string): [path: string, subscript: string] | undefined {
  if (!fieldPath.endsWith("']")) return undefined;
  const open = fieldPath.indexOf("['");
  if (open <= 0 || open + 2 > fieldPath.length - 2) return undefined;
  return [fieldPath.slice(0, open), fieldPath.slice(open + 2, -2)];
}

/** A label or annotation map as the kubelet prints it: sorted `key="value"` lines, Go-quoted. */
export function formatMap(map: Readonly<Record<string, string>> | undefined): string {
  if (map === undefined) return '';
  const keys = Object.keys(map).sort();
  let formatted = '';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (i > 0) formatted += '\n';
    formatted += `${key}=${quoteGoString(map[key] as string)}`;
  }
  return formatted;
}

// The colon test skips node:net's long IPv6 regular expression for the common IPv4 case.
function looksLikeIPv6(ip: string): boolean {
  return ip.includes(':') && isIPv6(ip);
}

function looksLikeIPv4(ip: string): boolean {
  return !ip.includes(':') && isIPv4(ip);
}

/**
 * The pod IPs as the kubelet hands them to the downward API: the first IP of the node's primary family,
 * then the first of the other family; anything that is not an IP is dropped.
 */
export function orderPodIPs(podIPs: readonly string[], hostIPs: readonly string[]): string[] {
  const primaryIsV6 = hostIPs.length > 0 && looksLikeIPv6(hostIPs[0] as string);
  const primary = podIPs.find((ip) => (primaryIsV6 ? looksLikeIPv6(ip) : looksLikeIPv4(ip)));
  const secondary = podIPs.find((ip) => (primaryIsV6 ? looksLikeIPv4(ip) : looksLikeIPv6(ip)));
  const ordered: string[] = [];
  if (primary !== undefined) ordered.push(primary);
  if (secondary !== undefined) ordered.push(secondary);
  return ordered;
}

/**
 * The value of a `fieldRef` for `pod`, as the kubelet computes it. Throws {@link InvalidInputError}
 * with the kubelet's wording for an unsupported API version, path or subscript, and when the node
 * has no IP for `status.hostIP`.
 */
export function resolveFieldRef(selector: ObjectFieldSelector, pod: Pod, values: DownwardValues): string {
  const apiVersion = selector.apiVersion || 'v1';
  if (apiVersion !== 'v1') throw new InvalidInputError(`unsupported pod version: ${apiVersion}`);
  const fieldPath = selector.fieldPath ?? '';
  const metadata = pod.metadata;

  const subscripted = splitSubscript(fieldPath);
  if (subscripted !== undefined) {
    const [path, key] = subscripted;
    if (path === 'metadata.labels' || path === 'metadata.annotations') {
      // Annotation keys are matched case-insensitively by the validation (not by the lookup).
      const problem = qualifiedNameProblem(path === 'metadata.annotations' ? key.toLowerCase() : key);
      if (problem !== undefined) throw new InvalidInputError(`invalid key subscript in ${fieldPath}: ${problem}`);
      const map = path === 'metadata.labels' ? metadata?.labels : metadata?.annotations;
      return map !== undefined && Object.hasOwn(map, key) ? (map[key] as string) : '';
    }
    throw new InvalidInputError(`field label does not support subscript: ${fieldPath}`);
  }

  switch (fieldPath) {
    case 'metadata.name':
      return metadata?.name ?? '';
    case 'metadata.namespace':
      return metadata?.namespace ?? '';
    case 'metadata.uid':
      return metadata?.uid ?? '';
    case 'metadata.labels':
      return formatMap(metadata?.labels);
    case 'metadata.annotations':
      return formatMap(metadata?.annotations);
    case 'spec.nodeName':
    case 'spec.host': // what old v1 clients call spec.nodeName
      return pod.spec?.nodeName || values.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP':
      return firstHostIP(values, fieldPath);
    case 'status.hostIPs':
      firstHostIP(values, fieldPath);
      return values.hostIPs.join(',');
    case 'status.podIP':
      return values.podIPs[0] ?? '';
    case 'status.podIPs':
      return values.podIPs.join(',');
  }
  if (KNOWN_FIELD_PATHS.has(fieldPath)) throw new InvalidInputError(`unsupported fieldPath: ${fieldPath}`);
  throw new InvalidInputError(`field label not supported: ${fieldPath}`);
}

function firstHostIP(values: DownwardValues, fieldPath: string): string {
  const first = values.hostIPs[0];
  if (first === undefined) throw new InvalidInputError(`cannot resolve ${fieldPath}: the node has no IP address`);
  return first;
}
