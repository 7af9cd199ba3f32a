/**
 * Service-account tokens valid in the **origin** cluster for remote pods. The remote has neither
 * the pod's service account nor the origin's signing key, so the origin's projected token volume
 * (`kube-api-access-*`, or a user's `serviceAccountToken` projection) is replaced in the remote
 * pod by a Secret volume with the same files: the token from a TokenRequest on the origin API for
 * the pod's own service account (bound to the local pod, so it dies with it), the origin's CA
 * (`kube-root-ca.crt`) and the local namespace. The token is requested again at 80 % of its life
 * and the Secret updated; the remote kubelet then updates the mounted file.
 *
 * The Secret is named after the local pod's uid (`vk-token-<hash>`), one per pod and volume.
 */
import { createHash } from 'node:crypto';
import type { Pod, Secret, Volume } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { errorMessage, isAlreadyExists, isNotFound } from '../../errors.ts';
import type { KubeClient } from '../../kube/client.ts';
import { Secrets, ServiceAccounts } from '../../kube/resources.ts';
import type { ResourceCache } from '../../provider/index.ts';
import {
  LABEL_MANAGED_BY,
  LABEL_ORIGIN_CLUSTER,
  LABEL_ORIGIN_NODE,
  LABEL_ORIGIN_UID,
  labelSafe,
  MANAGED_BY,
  type Ownership,
} from './remote-pod.ts';

/** The kubelet's default for a projection without `expirationSeconds`. */
const DEFAULT_EXPIRATION_SECONDS = 3600;
/** The API refuses shorter tokens. */
const MIN_EXPIRATION_SECONDS = 600;

/** The Secret that stands for a token volume of a pod. */
export function tokenSecretName(podUid: string, volumeName: string): string {
  return `vk-token-${createHash('sha256').update(`${podUid}/${volumeName}`).digest('hex').slice(0, 20)}`;
}

/** What one projected token volume needs: the token request and the other files, by path. */
export interface TokenVolumePlan {
  volumeName: string;
  secretName: string;
  /** Path of the token file, and what the token is for. */
  tokenPath: string;
  audience: string | undefined;
  expirationSeconds: number;
  /** ConfigMap keys (from the local namespace) by file path: the CA bundle. */
  configMapFiles: { configMap: string; key: string; path: string }[];
  /** Downward API files by path: the namespace and pod name are the local pod's. */
  fieldFiles: { fieldPath: string; path: string }[];
  defaultMode: number | undefined;
}

/** The plan for each service-account token volume of a pod (only volumes with one token projection). */
export function tokenVolumePlans(pod: Pod): TokenVolumePlan[] {
  const uid = pod.metadata?.uid ?? '';
  const plans: TokenVolumePlan[] = [];
  for (const volume of pod.spec?.volumes ?? []) {
    const sources = volume.projected?.sources ?? [];
    const tokens = sources.filter((s) => s.serviceAccountToken);
    if (tokens.length !== 1) continue;
    const token = tokens[0]?.serviceAccountToken;
    if (!token) continue;
    plans.push({
      volumeName: volume.name,
      secretName: tokenSecretName(uid, volume.name),
      tokenPath: token.path,
      audience: token.audience || undefined,
      expirationSeconds: Math.max(token.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS),
      configMapFiles: sources.flatMap((s) =>
        (s.configMap?.items ?? []).map((item) => ({
          configMap: s.configMap?.name ?? '',
          key: item.key,
          path: item.path,
        })),
      ),
      fieldFiles: sources.flatMap((s) =>
        (s.downwardAPI?.items ?? []).flatMap((item) =>
          item.fieldRef ? [{ fieldPath: item.fieldRef.fieldPath, path: item.path }] : [],
        ),
      ),
      defaultMode: volume.projected?.defaultMode,
    });
  }
  return plans;
}

/** The remote pod's volume for a plan: the Secret's keys at the projection's paths. */
export function tokenSecretVolume(plan: TokenVolumePlan): Volume {
  const paths = [plan.tokenPath, ...plan.configMapFiles.map((f) => f.path), ...plan.fieldFiles.map((f) => f.path)];
  return {
    name: plan.volumeName,
    secret: {
      secretName: plan.secretName,
      items: paths.map((path, index) => ({ key: `file-${index}`, path })),
      ...(plan.defaultMode !== undefined ? { defaultMode: plan.defaultMode } : {}),
    },
  };
}

/** The Secret's data (base64) for a plan; undefined for a file whose source is missing (skipped, as optional). */
export function tokenSecretData(
  plan: TokenVolumePlan,
  token: string,
  pod: Pod,
  configMapValue: (name: string, key: string) => string | undefined,
): Record<string, string> {
  const data: Record<string, string> = {};
  const encode = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  let index = 0;
  data[`file-${index++}`] = encode(token);
  for (const file of plan.configMapFiles) {
    const value = configMapValue(file.configMap, file.key);
    data[`file-${index++}`] = encode(value ?? '');
  }
  for (const file of plan.fieldFiles) {
    const value =
      file.fieldPath === 'metadata.namespace'
        ? (pod.metadata?.namespace ?? '')
        : file.fieldPath === 'metadata.name'
          ? (pod.metadata?.name ?? '')
          : file.fieldPath === 'metadata.uid'
            ? (pod.metadata?.uid ?? '')
            : '';
    data[`file-${index++}`] = encode(value);
  }
  return data;
}

export interface OriginTokensOptions {
  /** The origin cluster, where tokens are requested. */
  origin: KubeClient;
  remote: KubeClient;
  resources: ResourceCache;
  owner: Ownership;
  logger: Logger;
  signal: AbortSignal;
}

interface Refresh {
  timer: NodeJS.Timeout | undefined;
  remoteNamespace: string;
  secretNames: string[];
}

/** Writes and refreshes the token Secrets of this node's remote pods. */
export class OriginTokens {
  readonly #options: OriginTokensOptions;
  /** Refresh timers by local pod key. */
  readonly #refreshes = new Map<string, Refresh>();

  constructor(options: OriginTokensOptions) {
    this.#options = options;
    options.signal.addEventListener('abort', () => {
      for (const refresh of this.#refreshes.values()) clearTimeout(refresh.timer);
      this.#refreshes.clear();
    });
  }

  /** Requests the pod's tokens and writes their Secrets in the remote namespace; returns the plans written. */
  async ensure(pod: Pod, key: string, remoteNamespace: string, signal: AbortSignal): Promise<TokenVolumePlan[]> {
    const plans = tokenVolumePlans(pod);
    if (plans.length === 0) return plans;
    const namespace = pod.metadata?.namespace ?? 'default';
    if (plans.some((p) => p.configMapFiles.length > 0)) await this.#options.resources.ready('ConfigMap', namespace);
    let shortest = Number.POSITIVE_INFINITY;
    for (const plan of plans) {
      const { token, expiresAt } = await this.#requestToken(pod, plan, signal);
      shortest = Math.min(shortest, expiresAt - Date.now());
      await this.#write(pod, plan, token, remoteNamespace, signal);
    }
    this.#schedule(
      pod,
      key,
      remoteNamespace,
      shortest,
      plans.map((p) => p.secretName),
    );
    return plans;
  }

  /** Stops refreshing the pod's tokens and deletes their Secrets. */
  async release(key: string): Promise<void> {
    const refresh = this.#refreshes.get(key);
    if (!refresh) return;
    clearTimeout(refresh.timer);
    this.#refreshes.delete(key);
    for (const name of refresh.secretNames) {
      await this.#options.remote
        .delete(Secrets, { namespace: refresh.remoteNamespace, name }, { answer: 'metadata' })
        .catch((error: unknown) => {
          if (!isNotFound(error)) {
            this.#options.logger.warn({ pod: key, err: errorMessage(error) }, 'could not delete a token Secret');
          }
        });
    }
  }

  /** Whether the pod's tokens are being refreshed (a restarted process refreshes adopted pods' at once). */
  refreshing(key: string): boolean {
    return this.#refreshes.has(key);
  }

  #schedule(pod: Pod, key: string, remoteNamespace: string, lifetimeMs: number, secretNames: string[]): void {
    const previous = this.#refreshes.get(key);
    if (previous) clearTimeout(previous.timer);
    if (this.#options.signal.aborted) return;
    const refresh: Refresh = { timer: undefined, remoteNamespace, secretNames };
    const delay = Math.max(10_000, Math.floor(lifetimeMs * 0.8));
    const timer = setTimeout(() => {
      this.ensure(pod, key, remoteNamespace, this.#options.signal).catch((error: unknown) => {
        this.#options.logger.warn(
          { pod: key, err: errorMessage(error) },
          'could not refresh the service-account token',
        );
        // Try again soon: the old token is still valid for a fifth of its life.
        if (this.#refreshes.get(key) === refresh) this.#schedule(pod, key, remoteNamespace, 60_000, secretNames);
      });
    }, delay);
    timer.unref();
    refresh.timer = timer;
    this.#refreshes.set(key, refresh);
  }

  async #requestToken(
    pod: Pod,
    plan: TokenVolumePlan,
    signal: AbortSignal,
  ): Promise<{ token: string; expiresAt: number }> {
    const review = await this.#options.origin.createSubresource<{
      status?: { token?: string; expirationTimestamp?: string };
    }>(
      ServiceAccounts,
      {
        namespace: pod.metadata?.namespace ?? 'default',
        name: pod.spec?.serviceAccountName || 'default',
        subresource: 'token',
      },
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          ...(plan.audience ? { audiences: [plan.audience] } : {}),
          expirationSeconds: plan.expirationSeconds,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, uid: pod.metadata?.uid },
        },
      },
      signal,
    );
    if (!review.status?.token) throw new Error('TokenRequest returned no token');
    const expiresAt = Date.parse(review.status.expirationTimestamp ?? '') || Date.now() + plan.expirationSeconds * 1000;
    return { token: review.status.token, expiresAt };
  }

  async #write(pod: Pod, plan: TokenVolumePlan, token: string, remoteNamespace: string, signal: AbortSignal) {
    const { remote, resources, owner } = this.#options;
    const namespace = pod.metadata?.namespace ?? 'default';
    const secret: Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: plan.secretName,
        namespace: remoteNamespace,
        labels: {
          [LABEL_MANAGED_BY]: MANAGED_BY,
          [LABEL_ORIGIN_CLUSTER]: owner.originCluster,
          [LABEL_ORIGIN_NODE]: labelSafe(owner.nodeName),
          [LABEL_ORIGIN_UID]: pod.metadata?.uid ?? '',
        },
      },
      type: 'Opaque',
      data: tokenSecretData(plan, token, pod, (name, key) => resources.getConfigMap(namespace, name)?.data?.[key]),
    };
    try {
      await remote.create(Secrets, secret, { signal });
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
      await remote.patch(
        Secrets,
        { namespace: remoteNamespace, name: plan.secretName },
        { data: secret.data },
        'merge',
        {
          signal,
          answer: 'metadata',
        },
      );
    }
  }
}
