/**
 * Who is calling the kubelet API, as the kubelet decides it: a client certificate verified
 * against the client CA (user = CN, groups = O), else a bearer token checked with a TokenReview
 * (answers cached for 2 minutes), else nobody. Anonymous callers are refused unless explicitly
 * allowed — unlike the Go virtual-kubelet, which lets anyone exec when no CA is configured.
 */
import { createHash, type X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { KubeClient } from '../../kube/client.ts';
import { resourceType } from '../../kube/resources.ts';
import { TtlCache } from './ttl-cache.ts';

/** An authenticated caller, in the shape SubjectAccessReview wants. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export const ANONYMOUS: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

const TokenReviews = resourceType('authentication.k8s.io', 'v1', 'tokenreviews', 'TokenReview', false);

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  error?: string;
}

export interface AuthenticatorOptions {
  /** Checks bearer tokens; without it only certificates authenticate. */
  client?: KubeClient;
  /** Let requests without credentials in as system:anonymous. Default false. */
  allowAnonymous?: boolean;
  /** How long token answers are cached. Default 2 minutes (the kubelet's default). */
  tokenCacheTtlMs?: number;
}

/** The outcome: a user, or why not (for the 401 body). */
export type Authentication = { user: UserInfo } | { user: undefined; reason: string };

export class Authenticator {
  readonly #options: AuthenticatorOptions;
  readonly #tokens: TtlCache<UserInfo | null>;
  /** TokenReviews sent, for tests and metrics. */
  tokenReviews = 0;

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
    const ttl = options.tokenCacheTtlMs ?? 120_000;
    // A rejected token is asked again sooner: it may have just been created.
    this.#tokens = new TtlCache(ttl, Math.min(ttl, 10_000), 10_000);
  }

  async authenticate(socket: TLSSocket | undefined, headers: IncomingHttpHeaders): Promise<Authentication> {
    const fromCertificate = socket ? userFromCertificate(socket) : undefined;
    if (fromCertificate) return { user: fromCertificate };
    const authorization = headers.authorization;
    if (authorization?.startsWith('Bearer ')) {
      const token = authorization.slice(7).trim();
      const user = await this.#reviewToken(token);
      return user ? { user } : { user: undefined, reason: 'invalid bearer token' };
    }
    if (this.#options.allowAnonymous) return { user: ANONYMOUS };
    return { user: undefined, reason: 'no client certificate or bearer token' };
  }

  async #reviewToken(token: string): Promise<UserInfo | undefined> {
    const client = this.#options.client;
    if (!client || !token) return undefined;
    // Cache by a hash: the cache must not hold the tokens themselves.
    const key = createHash('sha256').update(token).digest('base64');
    const cached = this.#tokens.get(key);
    if (cached !== undefined) return cached ?? undefined;
    this.tokenReviews++;
    const review = await client.create(TokenReviews, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token },
    } as never);
    const status = (review as { status?: TokenReviewStatus }).status ?? {};
    const user: UserInfo | null =
      status.authenticated && status.user?.username
        ? {
            username: status.user.username,
            groups: status.user.groups ?? [],
            ...(status.user.uid ? { uid: status.user.uid } : {}),
            ...(status.user.extra ? { extra: status.user.extra } : {}),
          }
        : null;
    this.#tokens.set(key, user, user !== null);
    return user ?? undefined;
  }
}

/** The user of a client certificate the TLS layer verified against the client CA. */
function userFromCertificate(socket: TLSSocket): UserInfo | undefined {
  if (!socket.authorized) return undefined;
  const peer = socket.getPeerX509Certificate?.() as X509Certificate | undefined;
  if (!peer) return undefined;
  const names = parseDistinguishedName(peer.subject);
  const username = names.get('CN')?.[0];
  if (!username) return undefined;
  return { username, groups: [...(names.get('O') ?? []), 'system:authenticated'] };
}

/** `O=a\nO=b\nCN=x` (Node's X509Certificate.subject) → { O: [a, b], CN: [x] }. */
export function parseDistinguishedName(subject: string): Map<string, string[]> {
  const names = new Map<string, string[]>();
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const values = names.get(key) ?? [];
    values.push(line.slice(eq + 1));
    names.set(key, values);
  }
  return names;
}
