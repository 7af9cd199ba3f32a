/**
 * Go's `%q` (`strconv.Quote`) for strings, because the kubelet's downward API formats
 * `metadata.labels` and `metadata.annotations` as `key="value"` lines with it, and the event messages
 * we share with the Go virtual-kubelet quote names the same way. Programs parse those lines, so the
 * escaping must be Go's byte for byte.
 */

/** Strings that need no escaping: printable ASCII without `"` or `\`. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space. */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

const SHORT_ESCAPES: ReadonlyMap<number, string> = new Map([
  [0x07, '\\a'],
  [0x08, '\\b'],
  [0x0c, '\\f'],
  [0x0a, '\\n'],
  [0x0d, '\\r'],
  [0x09, '\\t'],
  [0x0b, '\\v'],
  [0x22, '\\"'],
  [0x5c, '\\\\'],
]);

function hex(codePoint: number, width: number): string {
  return codePoint.toString(16).padStart(width, '0');
}

/** `JSON.stringify`'s cousin with Go's escapes: `"a\tb"`, `"\x00"`, `"\u00a0"`, `"héllo"`. */
export function quoteGoString(value: string): string {
  if (PLAIN.test(value)) return `"${value}"`;
  let quoted = '"';
  for (const character of value) {
    let codePoint = character.codePointAt(0) as number;
    // Go sees UTF-8; a lone surrogate cannot be encoded and arrives as U+FFFD.
    if (codePoint >= 0xd800 && codePoint <= 0xdfff) codePoint = 0xfffd;
    const short = SHORT_ESCAPES.get(codePoint);
    if (short !== undefined) quoted += short;
    else if (codePoint === 0xfffd || PRINTABLE.test(character)) quoted += String.fromCodePoint(codePoint);
    else if (codePoint < 0x80) quoted += `\\x${hex(codePoint, 2)}`;
    else if (codePoint < 0x10000) quoted += `\\u${hex(codePoint, 4)}`;
    else quoted += `\\U${hex(codePoint, 8)}`;
  }
  return `${quoted}"`;
}
