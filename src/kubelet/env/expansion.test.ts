import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandVariables } from './expansion.ts';

const variables: Record<string, string> = {
  HOST: 'db.local',
  PORT: '5432',
  EMPTY: '',
  SELF_REFERENCE: '$(HOST)',
};
const lookup = (name: string): string | undefined => (Object.hasOwn(variables, name) ? variables[name] : undefined);

test('replaces defined references anywhere in the string', () => {
  const cases: [string, string][] = [
    ['$(HOST)', 'db.local'],
    ['$(HOST):$(PORT)', 'db.local:5432'],
    ['postgres://$(HOST):$(PORT)/app', 'postgres://db.local:5432/app'],
    ['$(PORT)$(PORT)', '54325432'],
    ['before$(EMPTY)after', 'beforeafter'],
    ['no references at all', 'no references at all'],
    ['', ''],
  ];
  for (const [input, expected] of cases) assert.equal(expandVariables(input, lookup), expected, input);
});

test('$$ escapes, so $$(VAR) is the literal $(VAR)', () => {
  const cases: [string, string][] = [
    ['$$(HOST)', '$(HOST)'],
    ['$$(HOST)-$(PORT)', '$(HOST)-5432'],
    ['cost: $$5', 'cost: $5'],
    ['$$$$', '$$'],
    ['$$$(PORT)', '$5432'], // an escaped $ then a reference
    ['$$$$(UNDEFINED)', '$$(UNDEFINED)'],
    ['$$$$$(PORT)', '$$5432'],
  ];
  for (const [input, expected] of cases) assert.equal(expandVariables(input, lookup), expected, input);
});

test('undefined references, bare $ and shell syntax stay verbatim', () => {
  const cases: [string, string][] = [
    ['$(UNDEFINED)', '$(UNDEFINED)'],
    ['a-$(UNDEFINED)-$(PORT)', 'a-$(UNDEFINED)-5432'],
    ['$HOST', '$HOST'],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax is the point of this case
    ['${HOST}', '${HOST}'],
    ['$?/$!/$1', '$?/$!/$1'],
    ['$HOST)', '$HOST)'],
    ['(HOST)', '(HOST)'],
    ['ends with $', 'ends with $'],
    ['$', '$'],
    ['price $ 5', 'price $ 5'],
    ['$é and $😀', '$é and $😀'], // a multi-unit character after $ is kept whole
    ['\\$(PORT)', '\\5432'], // backslashes are not escapes
    ['$()', '$()'], // the empty name is not defined
  ];
  for (const [input, expected] of cases) assert.equal(expandVariables(input, lookup), expected, input);
});

test('incomplete $( is copied and scanning resumes after it', () => {
  const cases: [string, string][] = [
    ['$(', '$('],
    ['$(HOST', '$(HOST'],
    ['$(PORT)-$(', '5432-$('],
    ['$(PORT) then $(HOST', '5432 then $(HOST'],
    ['$($($(', '$($($('],
    ['x$($(', 'x$($('],
  ];
  for (const [input, expected] of cases) assert.equal(expandVariables(input, lookup), expected, input);
});

test('a name runs to the first ")": nested references are not expanded', () => {
  // The name looked up is `HOST$(PORT`, which is not defined; the trailing `)` is literal.
  assert.equal(expandVariables('$(HOST$(PORT))', lookup), '$(HOST$(PORT))');
  assert.equal(expandVariables('$(HOST$(PORT)', lookup), '$(HOST$(PORT)');
  assert.equal(expandVariables('$(a$$b)', lookup), '$(a$$b)');
  const seen: string[] = [];
  expandVariables('$(OUTER$(INNER)) $(X)', (name) => {
    seen.push(name);
    return undefined;
  });
  assert.deepEqual(seen, ['OUTER$(INNER', 'X']);
});

test('values are inserted as they are, without recursive expansion', () => {
  assert.equal(expandVariables('$(SELF_REFERENCE)', lookup), '$(HOST)');
  assert.equal(expandVariables('[$(SELF_REFERENCE)]', lookup), '[$(HOST)]');
});

test('a string without $ is returned as the same string', () => {
  let calls = 0;
  const input = 'plain text with (parentheses)';
  assert.equal(
    expandVariables(input, () => {
      calls++;
      return 'x';
    }),
    input,
  );
  assert.equal(calls, 0);
});
