/**
 * Health endpoints for probes, which come without credentials: the kubelet serves `/healthz` on
 * its own plain-HTTP port (`--healthz-port`, 10248, bound to `--healthz-bind-address`, 127.0.0.1),
 * apart from the authenticated API on 10250. We do the same, so a liveness probe needs no token
 * and the kubelet API stays closed to anyone without one.
 *
 * - `/healthz` (and `/livez`): 200 `ok` while the process runs its controllers; 503 once it is
 *   stopping. It does not depend on the API server or the backend, so a liveness probe restarts a
 *   wedged process, not one waiting for an outage to end.
 * - `/readyz`: 200 `ok` once the node is registered and Ready; 503 before (and while stopping).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface HealthState {
  /** The node has been Ready at least once. */
  ready: boolean;
  /** A stop was requested (signal, startup timeout). */
  stopping: boolean;
}

/** Answers the health paths; false for any other path (the caller answers it). */
export function serveHealth(request: IncomingMessage, response: ServerResponse, state: HealthState): boolean {
  const path = (request.url ?? '/').split('?')[0];
  let failure: string | undefined;
  if (path === '/healthz' || path === '/livez') {
    if (state.stopping) failure = 'stopping';
  } else if (path === '/readyz') {
    if (state.stopping) failure = 'stopping';
    else if (!state.ready) failure = 'the node is not ready yet';
  } else {
    return false;
  }
  const body = failure ? `${failure}\n` : 'ok';
  response.writeHead(failure ? 503 : 200, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    // A probe's answer is about this instant.
    'cache-control': 'no-store',
  });
  response.end(request.method === 'HEAD' ? undefined : body);
  return true;
}

/** The health port's handler: the health paths, 404 for anything else. */
export function healthHandler(state: HealthState): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    if (serveHealth(request, response, state)) return;
    response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    response.end('404 page not found\n');
  };
}
