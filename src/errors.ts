/**
 * Error classes with stable `code` strings.
 *
 * Providers throw {@link NotFoundError} and {@link InvalidInputError} (or anything whose
 * `cause` chain contains one); the controllers and the kubelet API classify errors with
 * {@link isNotFound} and friends, which follow `cause` chains and `AggregateError`s, so
 * wrapping an error never changes how it is handled.
 */

/** Base class of every error this package throws on purpose. */
export class VirtualKubeletError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The object does not exist (a pod the provider does not know, a container, a file). */
export class NotFoundError extends VirtualKubeletError {
  constructor(message: string, options?: ErrorOptions) {
    super('VK_NOT_FOUND', message, options);
  }
}

/** The request or the object is malformed in a way retrying cannot fix. */
export class InvalidInputError extends VirtualKubeletError {
  constructor(message: string, options?: ErrorOptions) {
    super('VK_INVALID_INPUT', message, options);
  }
}

/** The provider does not implement an optional capability (logs, exec, port-forward, stats…). */
export class NotImplementedError extends VirtualKubeletError {
  constructor(message: string, options?: ErrorOptions) {
    super('VK_NOT_IMPLEMENTED', message, options);
  }
}

/** A user's configuration is wrong: bad flag, bad config file, bad kubeconfig. The CLI exits 2. */
export class ConfigError extends VirtualKubeletError {
  constructor(message: string, options?: ErrorOptions) {
    super('VK_CONFIG', message, options);
  }
}

/** The Kubernetes API answered with an error status. */
export class KubeApiError extends VirtualKubeletError {
  /** HTTP status code, e.g. 404. */
  readonly statusCode: number;
  /** `Status.reason` from the API server, e.g. `NotFound`, `Conflict`, `Expired`. */
  readonly reason: string;
  /** The decoded `Status` body, when the server sent one. */
  readonly status: KubeStatus | undefined;
  constructor(statusCode: number, reason: string, message: string, status?: KubeStatus, options?: ErrorOptions) {
    super('VK_KUBE_API', message, options);
    this.statusCode = statusCode;
    this.reason = reason;
    this.status = status;
  }
}

/** The `metav1.Status` object the API server sends with errors. */
export interface KubeStatus {
  kind?: 'Status';
  apiVersion?: string;
  status?: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; causes?: { reason?: string; message?: string; field?: string }[] };
}

/** Every error in `error`'s `cause` chain (and inside AggregateErrors), outermost first. */
function* causeChain(error: unknown): Generator<unknown> {
  const seen = new Set<unknown>();
  const pending = [error];
  while (pending.length > 0) {
    const current = pending.shift();
    if (current === undefined || current === null || seen.has(current)) continue;
    seen.add(current);
    yield current;
    if (current instanceof AggregateError) pending.push(...current.errors);
    if (current instanceof Error && 'cause' in current) pending.push(current.cause);
  }
}

function hasCode(error: unknown, code: string): boolean {
  for (const e of causeChain(error)) {
    if (typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code) return true;
  }
  return false;
}

function hasApiStatus(error: unknown, statusCode: number): boolean {
  for (const e of causeChain(error)) if (e instanceof KubeApiError && e.statusCode === statusCode) return true;
  return false;
}

/** True for a provider's NotFoundError and for a 404 from the API server, anywhere in the cause chain. */
export function isNotFound(error: unknown): boolean {
  return hasCode(error, 'VK_NOT_FOUND') || hasApiStatus(error, 404);
}

export function isInvalidInput(error: unknown): boolean {
  return hasCode(error, 'VK_INVALID_INPUT') || hasApiStatus(error, 400) || hasApiStatus(error, 422);
}

export function isNotImplemented(error: unknown): boolean {
  return hasCode(error, 'VK_NOT_IMPLEMENTED');
}

export function isConflict(error: unknown): boolean {
  return hasApiStatus(error, 409) && !isAlreadyExists(error);
}

export function isAlreadyExists(error: unknown): boolean {
  for (const e of causeChain(error)) if (e instanceof KubeApiError && e.reason === 'AlreadyExists') return true;
  return false;
}

/** 410 Gone / `Expired`: a resourceVersion too old to watch from. */
export function isGone(error: unknown): boolean {
  for (const e of causeChain(error)) {
    if (e instanceof KubeApiError && (e.statusCode === 410 || e.reason === 'Expired' || e.reason === 'Gone'))
      return true;
  }
  return false;
}

/** True when the error is (or was caused by) an aborted operation. */
export function isAbort(error: unknown): boolean {
  for (const e of causeChain(error)) if (e instanceof Error && e.name === 'AbortError') return true;
  return false;
}

/** The message of an unknown thrown value, for logs and status messages. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
