/**
 * Registry credentials from a pod's `imagePullSecrets` (`kubernetes.io/dockerconfigjson` and the
 * older `kubernetes.io/dockercfg`), matched to an image's registry as the kubelet matches them.
 */
import type { Secret } from 'kubernetes-types/core/v1.js';
import type { RegistryAuth } from './runtime-api.ts';

/** The registry host of an image reference (`docker.io` when there is none). */
export function imageRegistry(image: string): string {
  const first = image.split('/')[0] ?? '';
  const hasRegistry = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return hasRegistry ? first : 'docker.io';
}

interface DockerAuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

function entries(secret: Secret): Record<string, DockerAuthEntry> {
  const raw = secret.data?.['.dockerconfigjson'] ?? secret.data?.['.dockercfg'];
  if (!raw) return {};
  try {
    const parsed = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as Record<string, unknown>;
    return (secret.data?.['.dockerconfigjson'] ? parsed.auths : parsed) as Record<string, DockerAuthEntry>;
  } catch {
    return {};
  }
}

/** Strips scheme and path so `https://127.0.0.1:5000/v2/` matches `127.0.0.1:5000`. */
function hostOf(key: string): string {
  return key.replace(/^[a-z]+:\/\//, '').split('/')[0] ?? key;
}

/** The credentials for `image` from the pull secrets (first match wins), or undefined. */
export function registryAuth(image: string, secrets: readonly Secret[]): RegistryAuth | undefined {
  const registry = imageRegistry(image);
  const aliases = registry === 'docker.io' ? ['docker.io', 'index.docker.io', 'registry-1.docker.io'] : [registry];
  for (const secret of secrets) {
    for (const [key, entry] of Object.entries(entries(secret))) {
      if (!aliases.includes(hostOf(key))) continue;
      if (entry.identitytoken) return { identityToken: entry.identitytoken, serverAddress: registry };
      let { username, password } = entry;
      if (entry.auth && (!username || !password)) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        username = decoded.slice(0, colon);
        password = decoded.slice(colon + 1);
      }
      if (username !== undefined) return { username, password: password ?? '', serverAddress: registry };
    }
  }
  return undefined;
}
