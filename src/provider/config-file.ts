/**
 * Reading a provider's configuration file (`--provider-config`, YAML or JSON): every mistake is a
 * `ConfigError` that names the file and the field (`provider config /etc/vk.yaml: "tls.caFile"
 * must be a path`), so the CLI exits 2 with one line instead of a stack trace, and the provider's
 * own code reads typed values without repeating the checks.
 *
 * ```ts
 * const file = readConfigFile(context.configPath);          // an empty section without a file
 * file.allowOnly(['address', 'region', 'capacity']);
 * const address = file.string('address', { default: 'http://127.0.0.1:4646', pattern: /^https?:\/\// });
 * const capacity = file.quantities('capacity');
 * ```
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, errorMessage } from '../errors.ts';
import { parseQuantity } from '../kube/quantity.ts';
import { MAX_DURATION_MS, parseDuration } from '../util/duration.ts';

/** Reads and parses the file; without a path, an empty section (every field at its default). */
export function readConfigFile(path: string | undefined): ConfigSection {
  if (!path) return new ConfigSection('(none)', {});
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`provider config ${path} cannot be read: ${errorMessage(error)}`, { cause: error });
  }
  let value: unknown;
  try {
    value = parseYaml(text); // YAML 1.2 is a superset of JSON
  } catch (error) {
    // The parser's message ends with a picture of the line (`at line 1, column 2:\n\n{\n ^`):
    // the position is enough, and the CLI prints one line.
    const message = (errorMessage(error).split('\n')[0] ?? '').replace(/:$/, '');
    throw new ConfigError(`provider config ${path} is not valid YAML or JSON: ${message}`, { cause: error });
  }
  return ConfigSection.from(path, value ?? {}, '');
}

interface StringRules {
  /** What a valid value looks like, for the error message (`"a path"`, `"http://host:port"`). */
  describe?: string;
  pattern?: RegExp;
  oneOf?: readonly string[];
}

/** One map of a configuration file (the whole file, or a nested field). Reads are typed and checked. */
export class ConfigSection {
  /** The file, for messages. */
  readonly file: string;
  readonly #prefix: string;
  readonly #values: Readonly<Record<string, unknown>>;

  constructor(file: string, values: Readonly<Record<string, unknown>>, prefix = '') {
    this.file = file;
    this.#values = values;
    this.#prefix = prefix;
  }

  /** A section from any parsed value: a ConfigError unless it is a map. */
  static from(file: string, value: unknown, field: string): ConfigSection {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ConfigError(
        field
          ? `provider config ${file}: ${JSON.stringify(field)} must be a map`
          : `provider config ${file} must be a map of fields`,
      );
    }
    return new ConfigSection(file, value as Record<string, unknown>, field);
  }

  /** The field's full name, for messages: `tls.caFile`. */
  name(field: string): string {
    return this.#prefix ? `${this.#prefix}.${field}` : field;
  }

  /**
   * Throws the ConfigError for `field`. The message stays one line whatever a provider puts in it
   * (a user's value with a newline is shown escaped): the CLI prints it as one.
   */
  fail(field: string, message: string): never {
    // The name quoted as JSON: a user's key may hold a newline or a quote.
    throw new ConfigError(`provider config ${this.file}: ${JSON.stringify(this.name(field))} ${oneLine(message)}`);
  }

  /** Field names present in this section. */
  keys(): string[] {
    return Object.keys(this.#values);
  }

  /** Whether the field is present (and not null). */
  has(field: string): boolean {
    const value = this.#values[field];
    return value !== undefined && value !== null;
  }

  /** The raw value, for fields with a shape of their own. */
  raw(field: string): unknown {
    return this.#values[field] ?? undefined;
  }

  /** A ConfigError for any field not in `known` (typos are the commonest config mistake). */
  allowOnly(known: readonly string[]): void {
    for (const key of Object.keys(this.#values)) {
      if (!known.includes(key)) {
        const where = this.#prefix ? ` in ${JSON.stringify(this.#prefix)}` : '';
        throw new ConfigError(
          `provider config ${this.file}: unknown field ${JSON.stringify(key)}${where} (known: ${known.join(', ')})`,
        );
      }
    }
  }

  /** A nested map; an empty section when absent. */
  section(field: string): ConfigSection {
    const value = this.raw(field);
    if (value === undefined) return new ConfigSection(this.file, {}, this.name(field));
    return ConfigSection.from(this.file, value, this.name(field));
  }

  /** A list of maps (`tasks: [{…}, {…}]`); empty when absent. */
  sections(field: string): ConfigSection[] {
    const value = this.raw(field);
    if (value === undefined) return [];
    if (!Array.isArray(value)) this.fail(field, 'must be a list of maps');
    return value.map((item, i) => ConfigSection.from(this.file, item, `${this.name(field)}[${i}]`));
  }

  string(field: string, rules?: StringRules & { default?: undefined }): string | undefined;
  string(field: string, rules: StringRules & { default: string }): string;
  string(field: string, rules: StringRules & { default?: string } = {}): string | undefined {
    const value = this.raw(field);
    if (value === undefined) return rules.default;
    const expected = rules.describe ?? (rules.oneOf ? rules.oneOf.join(', ') : 'a non-empty string');
    if (typeof value !== 'string' || value === '') this.fail(field, `must be ${expected}, got ${show(value)}`);
    if (rules.oneOf && !rules.oneOf.includes(value)) this.fail(field, `must be one of ${expected}, got ${show(value)}`);
    if (rules.pattern && !rules.pattern.test(value)) this.fail(field, `must be ${expected}, got ${show(value)}`);
    return value;
  }

  /** A string that must be present. */
  requiredString(field: string, rules: StringRules = {}): string {
    const value = this.string(field, rules);
    if (value === undefined) this.fail(field, `is required (${rules.describe ?? 'a non-empty string'})`);
    return value;
  }

  boolean(field: string, fallback: boolean): boolean {
    const value = this.raw(field);
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') this.fail(field, `must be true or false, got ${show(value)}`);
    return value;
  }

  integer(field: string, rules: { default?: undefined; min?: number; max?: number }): number | undefined;
  integer(field: string, rules: { default: number; min?: number; max?: number }): number;
  integer(field: string, rules: { default?: number; min?: number; max?: number }): number | undefined {
    const value = this.raw(field);
    if (value === undefined) return rules.default;
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = rules;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      const range =
        rules.min !== undefined && rules.max !== undefined
          ? ` from ${min} to ${max}`
          : rules.min !== undefined
            ? ` of at least ${min}`
            : '';
      this.fail(field, `must be a whole number${range}, got ${show(value)}`);
    }
    return value;
  }

  /** A resource quantity (`500m`, `2Gi`), kept as written; numbers are accepted (`cpu: 4`). */
  quantity(field: string): string | undefined {
    const value = this.raw(field);
    if (value === undefined) return undefined;
    if (typeof value !== 'string' && typeof value !== 'number') {
      this.fail(field, `must be a quantity such as 500m or 2Gi, got ${show(value)}`);
    }
    const text = String(value);
    try {
      parseQuantity(text);
    } catch {
      this.fail(field, `is not a valid quantity: ${show(value)}`);
    }
    return text;
  }

  /** A map of resource name to quantity (`{cpu: "8", memory: 16Gi}`); empty when absent. */
  quantities(field: string): Record<string, string> {
    const section = this.section(field);
    const result: Record<string, string> = {};
    for (const name of section.keys()) {
      const quantity = section.quantity(name);
      if (quantity !== undefined) result[name] = quantity;
    }
    return result;
  }

  /** A Go duration (`30s`, `1m30s`) in milliseconds; a bare number is seconds. */
  duration(field: string, fallbackMs: number): number {
    const value = this.raw(field);
    if (value === undefined) return fallbackMs;
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0 && value * 1000 <= MAX_DURATION_MS) {
      return value * 1000;
    }
    if (typeof value !== 'string') this.fail(field, `must be a duration such as 30s or 1m, got ${show(value)}`);
    try {
      return parseDuration(value);
    } catch {
      this.fail(field, `must be a duration such as 30s or 1m, got ${show(value)}`);
    }
  }

  /** A list of non-empty strings; empty when absent. */
  stringList(field: string, describe = 'a list of strings'): string[] {
    const value = this.raw(field);
    if (value === undefined) return [];
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item !== '')) {
      this.fail(field, `must be ${describe}, got ${show(value)}`);
    }
    return value as string[];
  }

  /** A map of string to string (labels, tags, annotations); numbers and booleans are written as text. */
  stringMap(field: string): Record<string, string> {
    const section = this.section(field);
    const result: Record<string, string> = {};
    for (const key of section.keys()) {
      const value = section.raw(key);
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        result[key] = String(value);
      } else if (value !== undefined) {
        section.fail(key, `must be a string, got ${show(value)}`);
      }
    }
    return result;
  }
}

/** Control characters (newlines above all) written as JSON escapes. */
function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    // A YAML alias can make a value contain itself.
    text = Array.isArray(value) ? 'a list that contains itself' : 'a map that contains itself';
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
