/**
 * The provider kit's config-file reader under generated files: any text is a section or one
 * ConfigError line naming the file, and every typed reader gives a value of its type or a
 * ConfigError naming the field — never a TypeError, never a value that breaks later (an
 * infinite duration, a quantity that does not parse).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { ConfigError } from '../errors.ts';
import { parseQuantity } from '../kube/quantity.ts';
import { anyString, fc, fuzz, parsesOrRefuses, scratchDir } from '../util/fuzz-support.test.ts';
import { type ConfigSection, readConfigFile } from './config-file.ts';

/** YAML that is easy to get wrong: aliases (circular too), tags, special numbers, duplicate keys. */
const TRICKY = [
  'a: &x [*x]',
  'a: &x {b: *x}',
  '&x [*x]',
  'a: !!binary aGVsbG8=',
  'a: 2001-12-14t21:59:43.10-05:00',
  'a: !!timestamp 2001-12-14',
  'a: 1e400',
  'a: -.inf',
  'a: .nan',
  'a: 0o17',
  'a: 0x1F',
  'a: 1\na: 2',
  '<<: {a: 1}',
  'a: !!set {x, y}',
  'a: !unknown tag',
  'a: |\n  text',
  '? [complex, key]\n: value',
  'a: 123456789012345678901234567890',
  '{',
  'a: [1, 2',
  'a: b: c',
  '\t- tab',
  '---\na: 1\n---\nb: 2',
  '%YAML 9.9\n---\na: 1',
];

const FIELDS = ['address', 'region', 'capacity', 'timeout', 'tags', 'tls', 'tasks', 'count', 'enabled', 'a', 'b'];

/** Values a user might put in a field, of every type YAML gives. */
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('30s', '1m30s', '-5s', '500m', '2Gi', '1e3', 'lots', '', ' ', '1.5', '0x10'),
  fc.double(),
  fc.integer(),
);

const text = fc.oneof(
  anyString(60),
  fc.constantFrom(...TRICKY),
  fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), anyString(6)), value, { maxKeys: 5 }).map((m) => stringify(m)),
  fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 5 }).map((m) => JSON.stringify(m)),
  fc
    .tuple(fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 4 }), fc.constantFrom(...TRICKY))
    .map(([m, extra]) => `${stringify(m)}${extra}\n`),
);

let path = '';

/** A ConfigError must be one line (the CLI prints it as one) and name the file. */
function checkError(error: Error): void {
  assert.ok(error instanceof ConfigError);
  assert.ok(error.message.startsWith(`provider config ${path}`), error.message);
  assert.doesNotMatch(error.message, /\n/, 'a ConfigError spans lines');
}

/** Calls one typed reader on one field and checks what it gives. */
function readField(section: ConfigSection, field: string, reader: number): void {
  const read = (): unknown => {
    switch (reader) {
      case 0:
        return section.string(field, { pattern: /^https?:\/\// });
      case 1:
        return section.string(field, { oneOf: ['a', 'b'], default: 'a' });
      case 2:
        return section.boolean(field, false);
      case 3:
        return section.integer(field, { min: 1, max: 1000, default: 5 });
      case 4:
        return section.quantity(field);
      case 5:
        return section.quantities(field);
      case 6:
        return section.duration(field, 1000);
      case 7:
        return section.stringList(field);
      case 8:
        return section.stringMap(field);
      case 9:
        return section.sections(field).map((s) => s.keys());
      case 10:
        return section.section(field).keys();
      default:
        return section.requiredString(field);
    }
  };
  const result = parsesOrRefuses(read, ConfigError);
  if ('error' in result) {
    checkError(result.error);
    // It names the field (or, inside a map or list, the entry that is wrong).
    assert.ok(result.error.message.includes(JSON.stringify(section.name(field)).slice(0, -1)), result.error.message);
    return;
  }
  const got = result.value;
  switch (reader) {
    case 3:
      assert.ok(Number.isInteger(got) && (got as number) >= 1 && (got as number) <= 1000);
      break;
    case 4:
      if (got !== undefined) parseQuantity(got as string);
      break;
    case 5:
      for (const quantity of Object.values(got as Record<string, string>)) parseQuantity(quantity);
      break;
    case 6:
      assert.ok(Number.isFinite(got) && (got as number) >= 0, `duration ${String(got)}`);
      break;
    case 8:
      for (const item of Object.values(got as Record<string, string>)) assert.equal(typeof item, 'string');
      break;
  }
}

test('fuzz: any file is a section or one ConfigError line; every reader gives its type or names the field', (t) => {
  path = join(scratchDir(t, 'config-fuzz'), 'provider.yaml');
  const input = fc.tuple(text, fc.array(fc.tuple(fc.constantFrom(...FIELDS), fc.nat({ max: 11 })), { maxLength: 6 }));
  fuzz(
    t,
    'provider config-file reader',
    input,
    ([content, reads]) => {
      writeFileSync(path, content);
      const result = parsesOrRefuses(() => readConfigFile(path), ConfigError);
      if ('error' in result) {
        checkError(result.error);
        return;
      }
      const section = result.value;
      for (const [field, reader] of reads) readField(section, field, reader);
      const allowed = parsesOrRefuses(() => section.allowOnly(['address', 'region']), ConfigError);
      if ('error' in allowed) checkError(allowed.error);
    },
    { runs: 10_000 },
  );
});
