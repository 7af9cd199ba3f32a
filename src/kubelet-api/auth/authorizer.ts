/**
 * May this user do this to this node? Answered by the API server with a SubjectAccessReview on
 * `nodes/<subresource>` of this node, exactly as the kubelet asks: the verb from the HTTP method,
 * the subresource from the path (stats, metrics, log, proxy, and the fine-grained pods/healthz
 * that fall back to proxy). Answers are cached: allowed for 5 minutes, denied for 30 seconds.
 */
import type { KubeClient } from '../../kube/client.ts';
import { resourceType } from '../../kube/resources.ts';
import type { UserInfo } from './authenticator.ts';
import { TtlCache } from './ttl-cache.ts';

const SubjectAccessReviews = resourceType(
  'authorization.k8s.io',
  'v1',
  'subjectaccessreviews',
  'SubjectAccessReview',
  false,
);

/** What is being asked of the node. */
export interface NodeRequestAttributes {
  verb: string;
  /** Subresources to try in order: the fine-grained one first, then `proxy`. */
  subresources: string[];
}

const VERBS: Record<string, string> = {
  GET: 'get',
  HEAD: 'get',
  POST: 'create',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** The kubelet's mapping from a request to node subresources (`pkg/kubelet/server/auth.go`). */
export function nodeRequestAttributes(method: string, path: string): NodeRequestAttributes {
  const verb = VERBS[method.toUpperCase()] ?? method.toLowerCase();
  const first = `/${path.split('/')[1] ?? ''}`;
  switch (first) {
    case '/stats':
      return { verb, subresources: ['stats'] };
    case '/metrics':
      return { verb, subresources: ['metrics'] };
    case '/logs':
      return { verb, subresources: ['log'] };
    case '/checkpoint':
      return { verb, subresources: ['checkpoint'] };
    case '/pods':
    case '/runningpods':
      return { verb, subresources: ['pods', 'proxy'] };
    case '/healthz':
      return { verb, subresources: ['healthz', 'proxy'] };
    case '/configz':
      return { verb, subresources: ['configz', 'proxy'] };
    default:
      return { verb, subresources: ['proxy'] };
  }
}

export interface Decision {
  allowed: boolean;
  /** The subresource that was allowed, or the last one tried. */
  subresource: string;
  reason?: string;
}

export class Authorizer {
  readonly #client: KubeClient;
  readonly #nodeName: string;
  readonly #cache: TtlCache<{ allowed: boolean; reason?: string }>;
  /** SubjectAccessReviews sent, for tests and metrics. */
  reviews = 0;

  constructor(client: KubeClient, nodeName: string, options: { allowTtlMs?: number; denyTtlMs?: number } = {}) {
    this.#client = client;
    this.#nodeName = nodeName;
    this.#cache = new TtlCache(options.allowTtlMs ?? 300_000, options.denyTtlMs ?? 30_000);
  }

  async authorize(user: UserInfo, attributes: NodeRequestAttributes): Promise<Decision> {
    let last: Decision = { allowed: false, subresource: attributes.subresources[0] ?? 'proxy' };
    for (const subresource of attributes.subresources) {
      const answer = await this.#review(user, attributes.verb, subresource);
      last = { allowed: answer.allowed, subresource, ...(answer.reason ? { reason: answer.reason } : {}) };
      if (answer.allowed) return last;
    }
    return last;
  }

  async #review(user: UserInfo, verb: string, subresource: string): Promise<{ allowed: boolean; reason?: string }> {
    const key = JSON.stringify([
      user.username,
      user.uid ?? '',
      [...user.groups].sort(),
      user.extra ?? {},
      verb,
      subresource,
    ]);
    const cached = this.#cache.get(key);
    if (cached) return cached;
    this.reviews++;
    const review = (await this.#client.create(SubjectAccessReviews, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: user.username,
        groups: user.groups,
        ...(user.uid ? { uid: user.uid } : {}),
        ...(user.extra ? { extra: user.extra } : {}),
        resourceAttributes: { verb, group: '', version: 'v1', resource: 'nodes', subresource, name: this.#nodeName },
      },
    } as never)) as { status?: { allowed?: boolean; reason?: string } };
    const answer = {
      allowed: review.status?.allowed === true,
      ...(review.status?.reason ? { reason: review.status.reason } : {}),
    };
    this.#cache.set(key, answer, answer.allowed);
    return answer;
  }
}
