/**
 * The `port` query parameter of a kubelet port-forward request, validated as the kubelet's
 * `portforward.NewV4Options` does. Only WebSocket port-forward needs it: over SPDY every
 * stream names its own port.
 */
import { InvalidInputError } from '../../../errors.ts';
import { PARAM_PORT } from './constants.ts';

/**
 * Parses a port number as Go's `strconv.ParseUint(s, 10, 16)` plus the kubelet's `> 0`: decimal
 * digits only, 1..65535. Undefined when it is not one.
 */
export function parsePort(text: string): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 0xffff ? port : undefined;
}

/**
 * The ports of `?port=80&port=443` or `?port=80,443`, in order (duplicates kept: each is a
 * channel pair). An empty list when there is no `port` parameter; InvalidInputError for an
 * empty value or anything that is not a port 1..65535.
 */
export function parsePortForwardPorts(searchParams: URLSearchParams): number[] {
  const ports: number[] = [];
  for (const value of searchParams.getAll(PARAM_PORT)) {
    if (value.length === 0) throw new InvalidInputError(`query parameter "${PARAM_PORT}" cannot be empty`);
    for (const item of value.split(',')) {
      const port = parsePort(item);
      if (port === undefined) throw new InvalidInputError(`unable to parse "${value}" as a port: must be 1..65535`);
      ports.push(port);
    }
  }
  return ports;
}
