/**
 * Errors from the Podman REST client, with stable codes. A 404 becomes the package's
 * {@link NotFoundError} (so `isNotFound()` works on it) with a {@link PodmanError} as its cause;
 * every other error status is a {@link PodmanError}; a service that cannot be reached is a
 * {@link PodmanUnavailableError}.
 */
import { NotFoundError, VirtualKubeletError } from '../../../errors.ts';

/** The error body Podman sends: `{"cause":"no such container","message":"…","response":404}`. */
export interface PodmanErrorBody {
  cause?: string;
  message?: string;
  response?: number;
  /** Pod start/stop/kill report the containers that failed here, with a 409. */
  Errs?: string[] | null;
}

/** Podman answered a request with an error status (409, 500…), or a streamed operation reported an error. */
export class PodmanError extends VirtualKubeletError {
  /** HTTP status code; 0 when the error arrived inside a streamed 200 answer (a pull, stats). */
  readonly status: number;
  /**
   * Podman's short `cause`, e.g. `no such container`, `that name is already in use`,
   * `image not known`: the most stable thing to match on, since the messages vary.
   */
  readonly reason: string;
  constructor(status: number, reason: string, message: string, options?: ErrorOptions) {
    super('VK_PODMAN', message, options);
    this.status = status;
    this.reason = reason;
  }

  /** True when a create failed because the name is taken (Podman answers 500 for containers, 409 for pods). */
  get alreadyExists(): boolean {
    return /already in use|already exists/i.test(this.reason) || /already in use|already exists/i.test(this.message);
  }
}

/** True for a create that failed because the name is taken. */
export function isAlreadyExists(error: unknown): boolean {
  return error instanceof PodmanError && error.alreadyExists;
}

/** Classification of a failed pull, from the registry's text; the provider reports all of them as `ErrImagePull`. */
export type ImagePullFailure = 'unauthorized' | 'not-found' | 'unreachable' | 'other';

/** A pull failed; `message` carries the registry's own words (e.g. `unauthorized: authentication required`). */
export class ImagePullError extends PodmanError {
  readonly reference: string;
  readonly failure: ImagePullFailure;
  constructor(reference: string, registryMessage: string, status = 0, options?: ErrorOptions) {
    super(status, 'image pull failed', `pulling image "${reference}": ${registryMessage}`, options);
    this.reference = reference;
    this.failure = classifyPullFailure(registryMessage);
  }
}

/** The Podman service cannot be reached: the socket is missing, nothing listens, or the connection broke. */
export class PodmanUnavailableError extends VirtualKubeletError {
  /** `unix:///run/podman/podman.sock` or `tcp://host:port`. */
  readonly endpoint: string;
  constructor(endpoint: string, message: string, options?: ErrorOptions) {
    super('VK_PODMAN_UNAVAILABLE', message, options);
    this.endpoint = endpoint;
  }
}

/** True for a {@link PodmanUnavailableError} anywhere in the cause chain. */
export function isPodmanUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof PodmanUnavailableError) return true;
  }
  return false;
}

/**
 * The error for a stream (events, a followed log) whose connection broke after the answer
 * began: Node reports `aborted` with ECONNRESET; anything else passes through unchanged.
 */
export function brokenStreamError(error: unknown, endpoint: string, what: string): unknown {
  if (error instanceof PodmanUnavailableError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ECONNRESET' || code === 'EPIPE' || (error instanceof Error && error.message === 'aborted')) {
    return new PodmanUnavailableError(
      endpoint,
      `${what}: the connection to Podman broke (${(error as Error).message})`,
      {
        cause: error,
      },
    );
  }
  return error;
}

/** The error for an error status from Podman: NotFoundError for 404, else PodmanError. */
export function errorFromResponse(status: number, text: string, what: string): Error {
  let body: PodmanErrorBody = {};
  try {
    body = JSON.parse(text) as PodmanErrorBody;
  } catch {
    // Not JSON (a proxy, or a handler that wrote plain text): keep the text as the message.
  }
  const message = body.message || body.Errs?.join('; ') || text.trim() || `HTTP ${status}`;
  const error = new PodmanError(status, body.cause ?? '', `${what}: ${message}`);
  if (status === 404) return new NotFoundError(`${what}: ${message}`, { cause: error });
  return error;
}

function classifyPullFailure(message: string): ImagePullFailure {
  // Status codes as whole words: a registry on port 40351 is not a 403.
  if (/unauthorized|authentication required|denied|\b40[13]\b|invalid username\/password/i.test(message)) {
    return 'unauthorized';
  }
  if (/manifest unknown|not found|name unknown|\b404\b|no such image/i.test(message)) return 'not-found';
  if (
    /connection refused|no such host|i\/o timeout|network is unreachable|server gave HTTP response to HTTPS/i.test(
      message,
    )
  ) {
    return 'unreachable';
  }
  return 'other';
}
