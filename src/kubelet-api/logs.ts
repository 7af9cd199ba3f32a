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
  // Go reads these as int64; past 2^53 a JavaScript number is no longer exact, and no log is that long.
  if (!Number.isSafeInteger(n)) throw new InvalidInputError(`${name}: value out of range "${value}"`);
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
  if (sinceTimeText) options.sinceTime = parseRfc3339(sinceTimeText);
  return options;
}

/**
 * An RFC 3339 time, as metav1.Time (Go's `time.Parse(time.RFC3339, …)`) reads it: every field in
 * range — `Date` alone would turn February 30th into March 1st and 25:00 into the next day.
 */
function parseRfc3339(text: string): Date {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|([+-])(\d{2}):(\d{2}))$/.exec(text);
  const invalid = () => new InvalidInputError(`sinceTime: invalid RFC 3339 time "${text}"`);
  if (!match) throw invalid();
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const offsetHours = Number(match[10] ?? 0);
  const offsetMinutes = Number(match[11] ?? 0);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    offsetHours > 23 ||
    offsetMinutes > 59
  ) {
    throw invalid();
  }
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw invalid();
  return date;
}
