/**
 * Container logs: the query the API server sends (`PodLogOptions`), validated as the kubelet
 * validates it. The helpers for providers that keep log lines themselves are in the provider kit
 * (`provider/logs.ts`).
 */
import { InvalidInputError } from '../errors.ts';
import type { ContainerLogOptions } from '../provider/contracts.ts';

function flag(params: URLSearchParams, name: string): boolean {
  const value = params.get(name);
  if (value === null || value === '') return false;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new InvalidInputError(`${name}: invalid boolean "${value}"`);
}

function integer(params: URLSearchParams, name: string, min: number): number | undefined {
  const value = params.get(name);
  if (value === null || value === '') return undefined;
  if (!/^-?\d+$/.test(value)) throw new InvalidInputError(`${name}: invalid integer "${value}"`);
  const n = Number(value);
  if (n < min)
    throw new InvalidInputError(`${name}: must be ${min === 0 ? 'non-negative' : `at least ${min}`}, got ${n}`);
  return n;
}

/** Parses and validates `follow`, `previous`, `timestamps`, `tailLines`, `limitBytes`, `sinceSeconds`, `sinceTime`. */
export function parseLogOptions(params: URLSearchParams): ContainerLogOptions {
  const options: ContainerLogOptions = {
    follow: flag(params, 'follow'),
    previous: flag(params, 'previous'),
    timestamps: flag(params, 'timestamps'),
  };
  const tailLines = integer(params, 'tailLines', 0);
  const limitBytes = integer(params, 'limitBytes', 1);
  const sinceSeconds = integer(params, 'sinceSeconds', 1);
  const sinceTimeText = params.get('sinceTime');
  if (sinceSeconds !== undefined && sinceTimeText) {
    throw new InvalidInputError('at most one of sinceTime or sinceSeconds may be specified');
  }
  if (tailLines !== undefined) options.tailLines = tailLines;
  if (limitBytes !== undefined) options.limitBytes = limitBytes;
  if (sinceSeconds !== undefined) options.sinceSeconds = sinceSeconds;
  if (sinceTimeText) {
    // RFC 3339, as metav1.Time parses it.
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(sinceTimeText)) {
      throw new InvalidInputError(`sinceTime: invalid RFC 3339 time "${sinceTimeText}"`);
    }
    options.sinceTime = new Date(sinceTimeText);
  }
  return options;
}
