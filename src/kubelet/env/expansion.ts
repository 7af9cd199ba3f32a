/**
 * Kubernetes' `$(VAR)` expansion, as used for env values, `command`, `args` and `subPathExpr`.
 *
 * The rules (from Kubernetes' forked `expansion` package):
 * - `$(NAME)` is replaced by NAME's value; when NAME is undefined the reference is left verbatim.
 * - `$$` is an escaped `$`: `$$(NAME)` yields the literal `$(NAME)`.
 * - Any other `$` is copied with the character after it (`$NAME`, `${NAME}`, `$?`), and a `$` at the
 *   very end is kept.
 * - A `$(` with no `)` anywhere after it is copied as is, and scanning goes on after the `(`.
 * - A name runs to the first `)`, so `$(A$(B))` asks for the variable `A$(B` (normally undefined, so
 *   it stays verbatim) followed by a literal `)`. There is no recursion: a value that itself contains
 *   `$(X)` is inserted as is.
 */

const DOLLAR = 36;
const OPEN = 40;

/**
 * Expands `$(NAME)` references in `input`. `lookup` returns a variable's value, or `undefined` when it
 * is not defined (the reference is then kept verbatim).
 *
 * Strings without a `$` are returned as they are, without allocating.
 */
export function expandVariables(input: string, lookup: (name: string) => string | undefined): string {
  let dollar = input.indexOf('$');
  if (dollar < 0) return input;
  let output = '';
  let copiedUpTo = 0;
  const last = input.length - 1;
  while (dollar >= 0 && dollar < last) {
    output += input.slice(copiedUpTo, dollar);
    const next = input.charCodeAt(dollar + 1);
    if (next === DOLLAR) {
      output += '$';
      copiedUpTo = dollar + 2;
    } else if (next === OPEN) {
      const close = input.indexOf(')', dollar + 2);
      if (close < 0) {
        output += '$(';
        copiedUpTo = dollar + 2;
      } else {
        const name = input.slice(dollar + 2, close);
        const value = lookup(name);
        output += value === undefined ? `$(${name})` : value;
        copiedUpTo = close + 1;
      }
    } else {
      // Not an expression: copy the `$` and leave the next character to the plain-text scan, which
      // keeps a surrogate pair whole.
      output += '$';
      copiedUpTo = dollar + 1;
      dollar = input.indexOf('$', dollar + 2);
      continue;
    }
    dollar = input.indexOf('$', copiedUpTo);
  }
  return output + input.slice(copiedUpTo);
}
