/**
 * The Kubernetes provider's configuration file (`--provider-config`, YAML or JSON). Only the
 * remote cluster's kubeconfig is required; a mistake is a ConfigError naming the file and the
 * field (the CLI exits 2).
 *
 * ```yaml
 * kubeconfig: /etc/vk/remote.kubeconfig   # the remote cluster (relative paths: from this file)
 * context: edge-1                         # default: the kubeconfig's current context
 * originCluster: hub                      # who we are, stamped on every remote object (default "origin")
 * namespaces:
 *   prefix: hub                           # local ns → remote "<prefix>-<ns>"; default: the same name
 *   map: { default: team-a }              # explicit remote names, before the prefix rule
 *   create: true                          # create a missing remote namespace (default true)
 * labels: { team: burst }                 # stamped on every remote object we create
 * annotations: { contact: ops@example.com }
 * capacity: { cpu: "8", memory: 32Gi, pods: "200" }  # fixed; left out: the remote's free allocatable
 * nodeLabels: { topology.kubernetes.io/region: eu-west }  # published on the virtual node
 * ```
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError, errorMessage } from '../../errors.ts';
import { type ClusterConnection, loadKubeConfig } from '../../kube/kubeconfig.ts';
import { type ConfigSection, readConfigFile } from '../../provider/index.ts';

export interface NamespaceMapping {
  /** Remote names for given local namespaces. */
  map: Record<string, string>;
  /** `<prefix>-<ns>` for every other namespace; empty: the same name. */
  prefix: string;
  /** Create a missing remote namespace (labelled as ours). */
  create: boolean;
}

export interface KubernetesConfig {
  /** The remote cluster, as the kubeconfig and context describe it. */
  remote: ClusterConnection;
  /** The kubeconfig file and context, for messages and the node's annotations. */
  kubeconfigPath: string;
  context: string | undefined;
  originCluster: string;
  namespaces: NamespaceMapping;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Fixed node capacity; resources left out are read from the remote cluster. */
  capacity: Record<string, string>;
  nodeLabels: Record<string, string>;
}

const FIELDS = [
  'kubeconfig',
  'context',
  'originCluster',
  'namespaces',
  'labels',
  'annotations',
  'capacity',
  'nodeLabels',
];

/** A DNS-1123 label: what namespace names and label values (without the 63-char limit's dots) must be. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A label value: empty, or up to 63 alphanumerics with `-_.` inside. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** A qualified name, optionally prefixed by a DNS subdomain: what label and annotation keys must be. */
const QUALIFIED_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Whether `value` may be a label value. */
export function isLabelValue(value: string): boolean {
  return value.length <= 63 && LABEL_VALUE.test(value);
}

function isQualifiedKey(key: string): boolean {
  const name = key.slice(key.indexOf('/') + 1);
  return QUALIFIED_KEY.test(key) && name.length <= 63 && key.length - name.length <= 254;
}

function checkKeys(section: ConfigSection, field: string, values: Record<string, string>, checkValues: boolean): void {
  for (const [key, value] of Object.entries(values)) {
    if (!isQualifiedKey(key)) {
      section.section(field).fail(key, 'is not a valid label or annotation key (name, or prefix/name)');
    }
    if (checkValues && !isLabelValue(value)) {
      section
        .section(field)
        .fail(key, `has a value that is not a valid label value (63 characters of [A-Za-z0-9-_.]): ${value}`);
    }
  }
}

/** Reads and validates the config. */
export function loadKubernetesConfig(path: string | undefined): KubernetesConfig {
  if (!path) {
    throw new ConfigError(
      'the kubernetes provider needs --provider-config: a file naming the remote cluster\'s kubeconfig ("kubeconfig: /path")',
    );
  }
  const file: ConfigSection = readConfigFile(path);
  file.allowOnly(FIELDS);
  const kubeconfigField = file.string('kubeconfig', { describe: 'a path' });
  if (!kubeconfigField) file.fail('kubeconfig', "is required: the remote cluster's kubeconfig file");
  const kubeconfigPath = isAbsolute(kubeconfigField) ? kubeconfigField : resolve(dirname(path), kubeconfigField);
  const context = file.string('context');
  let remote: ClusterConnection;
  try {
    remote = loadKubeConfig({ path: kubeconfigPath, ...(context ? { context } : {}), env: {} });
  } catch (error) {
    throw new ConfigError(`provider config ${path}: the remote cluster: ${errorMessage(error)}`, { cause: error });
  }

  const originCluster = file.string('originCluster', { default: 'origin' });
  if (!isLabelValue(originCluster) || originCluster === '') {
    file.fail('originCluster', `must be a valid label value (63 characters of [A-Za-z0-9-_.]), got "${originCluster}"`);
  }

  const namespaces = file.section('namespaces');
  namespaces.allowOnly(['prefix', 'map', 'create']);
  const prefix = namespaces.raw('prefix') === '' ? '' : (namespaces.string('prefix') ?? '');
  if (prefix && (!DNS_LABEL.test(prefix) || prefix.length > 53)) {
    namespaces.fail('prefix', `must be a DNS label of at most 53 characters ([a-z0-9-]), got "${prefix}"`);
  }
  const map = namespaces.stringMap('map');
  for (const [local, remoteName] of Object.entries(map)) {
    if (!DNS_LABEL.test(remoteName) || remoteName.length > 63) {
      namespaces.section('map').fail(local, `must name a valid namespace (a DNS label), got "${remoteName}"`);
    }
  }

  const labels = file.stringMap('labels');
  checkKeys(file, 'labels', labels, true);
  const annotations = file.stringMap('annotations');
  checkKeys(file, 'annotations', annotations, false);
  const nodeLabels = file.stringMap('nodeLabels');
  checkKeys(file, 'nodeLabels', nodeLabels, true);
  const capacity = file.quantities('capacity');
  for (const name of Object.keys(capacity)) {
    if (!['cpu', 'memory', 'pods', 'ephemeral-storage'].includes(name)) {
      file.section('capacity').fail(name, 'is not a resource the node reports (cpu, memory, pods, ephemeral-storage)');
    }
  }
  return {
    remote,
    kubeconfigPath,
    context,
    originCluster,
    namespaces: { map, prefix, create: namespaces.boolean('create', true) },
    labels,
    annotations,
    capacity,
    nodeLabels,
  };
}
