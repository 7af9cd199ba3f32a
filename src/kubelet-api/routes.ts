/**
 * The kubelet API's routes: which path and method mean what, and for which pod. Pure, so it can
 * be tested (and fuzzed) without a server. Path segments are %-decoded; a malformed escape is a
 * 400, an unknown path or a method a route does not take is a 404, as the kubelet answers.
 */
import { VirtualKubeletError } from '../errors.ts';

/** A resolved route: what to do and for which pod. */
export type Route =
  | { kind: 'healthz' | 'pods' | 'runningpods' | 'stats' | 'metrics-resource' | 'metrics' }
  | { kind: 'logs'; namespace: string; pod: string; container: string }
  | { kind: 'exec' | 'attach'; namespace: string; pod: string; uid: string | undefined; container: string }
  | { kind: 'portforward'; namespace: string; pod: string; uid: string | undefined };

/** An error with the HTTP status it answers with. */
export class HttpError extends VirtualKubeletError {
  readonly status: number;
  constructor(status: number, message: string) {
    super('VK_HTTP', message);
    this.status = status;
  }
}

/**
 * The path and query of a request target, taken as the client sent them: `new URL` with a base
 * would read `//x` as a host, fail on `//`, fold `..` segments and turn `\` into `/`, so the path
 * authorized and routed would not be the path requested. The absolute form (`https://host/path`)
 * is read as a URL; a malformed one is a 400.
 */
export function requestTarget(raw: string): { pathname: string; searchParams: URLSearchParams } {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new HttpError(400, `malformed request target "${raw.slice(0, 200)}"`);
    }
    return { pathname: url.pathname, searchParams: url.searchParams };
  }
  const query = raw.indexOf('?');
  return query < 0
    ? { pathname: raw || '/', searchParams: new URLSearchParams() }
    : { pathname: raw.slice(0, query) || '/', searchParams: new URLSearchParams(raw.slice(query + 1)) };
}

/** Maps a path and method to a route, or throws HttpError: 400 for a malformed %-escape, 404 for anything unknown. */
export function matchRoute(method: string, pathname: string): Route {
  const parts = pathname
    .split('/')
    .filter(Boolean)
    .map((part) => {
      try {
        return decodeURIComponent(part);
      } catch {
        throw new HttpError(400, `malformed path segment "${part}"`);
      }
    });
  const [first, ...rest] = parts;
  const getOrPost = method === 'GET' || method === 'POST';
  const get = method === 'GET' || method === 'HEAD';
  const route = (() => {
    switch (first) {
      case 'healthz':
        return rest.length === 0 && get ? { kind: 'healthz' as const } : undefined;
      case 'pods':
        return rest.length === 0 && get ? { kind: 'pods' as const } : undefined;
      case 'runningpods':
        return rest.length === 0 && get ? { kind: 'runningpods' as const } : undefined;
      case 'stats':
        return rest.length === 1 && rest[0] === 'summary' && getOrPost ? { kind: 'stats' as const } : undefined;
      case 'metrics':
        if (rest.length === 0 && get) return { kind: 'metrics' as const };
        return rest.length === 1 && rest[0] === 'resource' && get ? { kind: 'metrics-resource' as const } : undefined;
      case 'containerLogs':
        if (rest.length === 3 && getOrPost) {
          const [namespace = '', pod = '', container = ''] = rest;
          return { kind: 'logs' as const, namespace, pod, container };
        }
        return undefined;
      case 'exec':
      case 'attach':
        if (!getOrPost) return undefined;
        if (rest.length === 3) {
          const [namespace = '', pod = '', container = ''] = rest;
          return { kind: first, namespace, pod, uid: undefined, container };
        }
        if (rest.length === 4) {
          const [namespace = '', pod = '', uid = '', container = ''] = rest;
          return { kind: first, namespace, pod, uid, container };
        }
        return undefined;
      case 'portForward':
        if (!getOrPost) return undefined;
        if (rest.length === 2 || rest.length === 3) {
          const [namespace = '', pod = '', uid] = rest;
          return { kind: 'portforward' as const, namespace, pod, uid };
        }
        return undefined;
      default:
        return undefined;
    }
  })();
  if (!route) throw new HttpError(404, `404 page not found: ${method} ${pathname}`);
  return route;
}
