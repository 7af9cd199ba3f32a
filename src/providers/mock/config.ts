/**
 * The mock provider's configuration file, compatible with the Go mock's: a JSON object keyed by
 * node name, `{"<node>": {"cpu": "20", "memory": "100Gi", "pods": "20", "others": {…}, "providerID": "…"}}`.
 * Empty fields take the Go mock's defaults.
 *
 * Extensions for tests: `stateFile` keeps the provider's pods across restarts of the process (as a
 * real backend would), `callLog` appends every provider call as a JSON line, and while
 * `pingErrorFile` exists the provider's ping fails with its content.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, errorMessage } from '../../errors.ts';
import { parseQuantity } from '../../kube/quantity.ts';

export interface MockConfig {
  cpu: string;
  memory: string;
  pods: string;
  others: Record<string, string>;
  providerID?: string;
  stateFile?: string;
  callLog?: string;
  /** While this file exists, ping fails with its content (to test NotReady handling). */
  pingErrorFile?: string;
}

export const MOCK_DEFAULTS = { cpu: '20', memory: '100Gi', pods: '20' } as const;

function quantity(path: string, field: string, value: unknown, fallback?: string): string {
  if (value === undefined || value === null || value === '') {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`provider config ${path}: ${JSON.stringify(field)} must be a quantity such as 1 or 4Gi`);
  }
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new ConfigError(
      `provider config ${path}: ${JSON.stringify(field)} must be a quantity string, got ${JSON.stringify(value)}`,
    );
  }
  const text = String(value);
  try {
    parseQuantity(text);
  } catch {
    throw new ConfigError(
      `provider config ${path}: ${JSON.stringify(field)} is not a valid quantity: ${JSON.stringify(text)}`,
    );
  }
  return text;
}

/** Reads the config for `nodeName`; without a file, the defaults. Throws ConfigError naming the problem. */
export function loadMockConfig(path: string | undefined, nodeName: string): MockConfig {
  if (!path) return { ...MOCK_DEFAULTS, others: {} };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const what = (error as NodeJS.ErrnoException).code ? 'cannot be read' : 'is not valid JSON';
    // JSON.parse quotes the text around the mistake, control characters and all: escape them, to keep one line.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
    const message = errorMessage(error).replace(/[\u0000-\u001f]/g, (c) => JSON.stringify(c).slice(1, -1));
    throw new ConfigError(`provider config ${path} ${what}: ${message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`provider config ${path} must be a JSON object keyed by node name`);
  }
  // Its own entry only: `constructor` or `__proto__` must not find Object.prototype's.
  const entry = Object.hasOwn(raw, nodeName) ? (raw as Record<string, unknown>)[nodeName] : undefined;
  if (entry === undefined) {
    throw new ConfigError(`provider config ${path} has no entry for node ${JSON.stringify(nodeName)}`);
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new ConfigError(`provider config ${path}: the entry for ${JSON.stringify(nodeName)} must be an object`);
  }
  const e = entry as Record<string, unknown>;
  const others: Record<string, string> = {};
  if (e.others !== undefined) {
    if (typeof e.others !== 'object' || e.others === null || Array.isArray(e.others)) {
      throw new ConfigError(`provider config ${path}: "others" must be an object of resource quantities`);
    }
    // No default here: an empty extended resource would make the Node invalid.
    for (const [name, value] of Object.entries(e.others)) others[name] = quantity(path, `others.${name}`, value);
  }
  const config: MockConfig = {
    cpu: quantity(path, 'cpu', e.cpu, MOCK_DEFAULTS.cpu),
    memory: quantity(path, 'memory', e.memory, MOCK_DEFAULTS.memory),
    pods: quantity(path, 'pods', e.pods, MOCK_DEFAULTS.pods),
    others,
  };
  for (const field of ['providerID', 'stateFile', 'callLog', 'pingErrorFile'] as const) {
    const value = e[field];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new ConfigError(`provider config ${path}: "${field}" must be a string`);
    config[field] = value;
  }
  return config;
}
