/**
 * Kubernetes resource quantities (`100m`, `1.5`, `2Gi`, `1e3`, `500Ki`, `1E`, `-1`): parsing, and the
 * integer views the kubelet takes of them (`Value()`, `MilliValue()`, the downward API's division by a
 * divisor).
 *
 * The grammar is apimachinery's: an optional sign, decimal digits with an optional fraction, then a
 * suffix that is a decimal SI prefix (`n u m "" k M G T P E`), a binary one (`Ki Mi Gi Ti Pi Ei`) or a
 * decimal exponent (`e3`, `E-2`, `e+6`). `E` alone is exa; `E` followed by digits is an exponent.
 *
 * Precision: {@link parseQuantity} returns a float64, exact for integers up to 2^53 (8 PiB in bytes,
 * 9 × 10^12 cores in millicores) and otherwise the nearest float64. The integer views
 * ({@link quantityValue}, {@link quantityMilliValue}) round exactly, the way Kubernetes does (up, away
 * from zero), using the parsed digits rather than the float, so `0.1` is 100 millicores and not 101;
 * their results are exact up to 2^53 and the nearest float64 above. Kubernetes itself caps quantities
 * at 2^63 - 1 and keeps nine fractional digits; neither limit is reproduced here because no value a
 * kubelet reports comes near them.
 */
import { InvalidInputError } from '../errors.ts';

/** How a quantity's suffix is written: `12M` (DecimalSI), `12Mi` (BinarySI) or `12e6` (DecimalExponent). */
export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

/**
 * A parsed quantity, kept exact: `(negative ? -1 : 1) × digits × 10^exponent × 2^binaryExponent`.
 */
export interface QuantityParts {
  readonly negative: boolean;
  /** The decimal digits of the number, integer and fraction run together, without leading zeros; `0` for zero. */
  readonly digits: string;
  /** The power of ten: the suffix's (or the exponent's) minus the number of fraction digits. */
  readonly exponent: number;
  /** The power of two of a binary suffix: 10 for `Ki` up to 60 for `Ei`; 0 otherwise. */
  readonly binaryExponent: number;
  readonly format: QuantityFormat;
}

const CHAR_0 = 48;
const CHAR_9 = 57;
const CHAR_PLUS = 43;
const CHAR_MINUS = 45;
const CHAR_DOT = 46;

/** Characters apimachinery's scanner accepts as the start of a suffix. */
const SUFFIX_CHARS = new Set('eEinumkKMGTP');

const DECIMAL_SUFFIXES: ReadonlyMap<string, number> = new Map([
  ['n', -9],
  ['u', -6],
  ['m', -3],
  ['', 0],
  ['k', 3],
  ['M', 6],
  ['G', 9],
  ['T', 12],
  ['P', 15],
  ['E', 18],
]);

const BINARY_SUFFIXES: ReadonlyMap<string, number> = new Map([
  ['Ki', 10],
  ['Mi', 20],
  ['Gi', 30],
  ['Ti', 40],
  ['Pi', 50],
  ['Ei', 60],
]);

/**
 * Exponent suffixes beyond ±1000 are rejected as out of range: float64 ends near 10^308, and keeping the
 * exponent small bounds the BigInt work in {@link quantityValue}. (Kubernetes would floor such a tiny
 * value at 1n; no real quantity is written that way.)
 */
const MAX_EXPONENT = 1000;

/** An exponent suffix's number: an optional sign and decimal digits, nothing else. */
const EXPONENT_DIGITS = /^[+-]?\d+$/;

function isDigit(code: number): boolean {
  return code >= CHAR_0 && code <= CHAR_9;
}

function invalid(text: string, why: string): InvalidInputError {
  return new InvalidInputError(
    `invalid quantity ${JSON.stringify(text)}: ${why}; expected a number with an optional suffix such as 100m, 1.5, 2Gi or 1e3`,
  );
}

/**
 * Parses a quantity into its exact parts. Throws {@link InvalidInputError} on anything that is not a
 * quantity, including the digit-less forms apimachinery reads as zero (`""`, `-`, `.`, `Mi`): the API
 * server re-emits every quantity in canonical form, so those only ever come from a hand-built object.
 */
export function parseQuantityParts(text: string): QuantityParts {
  const end = text.length;
  let pos = 0;
  let negative = false;
  if (pos < end) {
    const first = text.charCodeAt(0);
    if (first === CHAR_MINUS) {
      negative = true;
      pos++;
    } else if (first === CHAR_PLUS) {
      pos++;
    }
  }
  const integerStart = pos;
  while (pos < end && isDigit(text.charCodeAt(pos))) pos++;
  const integerEnd = pos;
  let fractionStart = pos;
  let fractionEnd = pos;
  if (pos < end && text.charCodeAt(pos) === CHAR_DOT) {
    pos++;
    fractionStart = pos;
    while (pos < end && isDigit(text.charCodeAt(pos))) pos++;
    fractionEnd = pos;
  }
  if (integerEnd === integerStart && fractionEnd === fractionStart) throw invalid(text, 'no digits');

  // The suffix: letters from the suffix alphabet, then an optional sign and digits (for exponents).
  const suffixStart = pos;
  while (pos < end && SUFFIX_CHARS.has(text.charAt(pos))) pos++;
  if (pos < end && (text.charCodeAt(pos) === CHAR_PLUS || text.charCodeAt(pos) === CHAR_MINUS)) pos++;
  while (pos < end && isDigit(text.charCodeAt(pos))) pos++;
  if (pos < end) throw invalid(text, `unexpected character ${JSON.stringify(text[pos])}`);
  const suffix = text.slice(suffixStart);

  let exponent: number;
  let binaryExponent = 0;
  let format: QuantityFormat;
  const decimal = DECIMAL_SUFFIXES.get(suffix);
  const binary = decimal === undefined ? BINARY_SUFFIXES.get(suffix) : undefined;
  if (decimal !== undefined) {
    exponent = decimal;
    format = 'DecimalSI';
  } else if (binary !== undefined) {
    exponent = 0;
    binaryExponent = binary;
    format = 'BinarySI';
  } else if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && EXPONENT_DIGITS.test(suffix.slice(1))) {
    exponent = Number(suffix.slice(1));
    // Far past float64's range either way; also keeps the exponent a plain integer in what follows.
    if (Math.abs(exponent) > MAX_EXPONENT) throw invalid(text, 'out of range');
    format = 'DecimalExponent';
  } else {
    throw invalid(text, `unknown suffix ${JSON.stringify(suffix)}`);
  }

  const fraction = text.slice(fractionStart, fractionEnd);
  let digits = text.slice(integerStart, integerEnd) + fraction;
  let firstNonZero = 0;
  while (firstNonZero < digits.length && digits.charCodeAt(firstNonZero) === CHAR_0) firstNonZero++;
  digits = firstNonZero === digits.length ? '0' : digits.slice(firstNonZero);
  exponent -= fraction.length;
  if (digits === '0') return { negative: false, digits, exponent: 0, binaryExponent: 0, format };
  if (!Number.isFinite(Number(`${digits}e${exponent}`) * 2 ** binaryExponent)) throw invalid(text, 'out of range');
  return { negative, digits, exponent, binaryExponent, format };
}

/**
 * The quantity as a number of base units (cores, bytes…): `100m` → 0.1, `2Gi` → 2147483648, `1e3` → 1000.
 * A float64; see the module notes on precision. Throws {@link InvalidInputError} on garbage.
 */
export function parseQuantity(text: string): number {
  return partsToNumber(parseQuantityParts(text));
}

/** Like {@link parseQuantity}, but `undefined` instead of an exception for a string that is not a quantity. */
export function tryParseQuantity(text: string): number | undefined {
  try {
    return parseQuantity(text);
  } catch {
    return undefined;
  }
}

function partsToNumber(parts: QuantityParts): number {
  if (parts.digits === '0') return 0;
  // Number() on a decimal string rounds correctly once; multiplying by a power of two is exact.
  const magnitude = Number(`${parts.digits}e${parts.exponent}`) * 2 ** parts.binaryExponent;
  return parts.negative ? -magnitude : magnitude;
}

/** Powers of ten that float64 holds exactly. */
const MAX_EXACT_POWER_OF_TEN = 22;

/**
 * The quantity in units of 10^scale, rounded up away from zero to an integer: apimachinery's
 * `ScaledValue`. Uses integer arithmetic on the digits, so the rounding is exact.
 */
function scaledValue(parts: QuantityParts, scale: number): number {
  if (parts.digits === '0') return 0;
  const powerOfTen = parts.exponent - scale;
  let magnitude: number;
  if (powerOfTen >= 0) {
    magnitude = Number(`${parts.digits}e${powerOfTen}`) * 2 ** parts.binaryExponent;
  } else if (-powerOfTen >= parts.digits.length + 19) {
    // digits × 2^binaryExponent < 10^length × 2^60 < 10^(length + 19): a non-zero fraction of one unit.
    magnitude = 1;
  } else {
    const numerator = parts.digits.length <= 15 ? Number(parts.digits) * 2 ** parts.binaryExponent : Infinity;
    if (numerator <= Number.MAX_SAFE_INTEGER && -powerOfTen <= MAX_EXACT_POWER_OF_TEN) {
      // Both operands are exact and the numerator is below 2^53, so the float quotient is within
      // less than 10^powerOfTen of the true one and Math.ceil lands on the right integer.
      magnitude = Math.ceil(numerator / 10 ** -powerOfTen);
    } else {
      const exactNumerator = BigInt(parts.digits) << BigInt(parts.binaryExponent);
      const denominator = 10n ** BigInt(-powerOfTen);
      magnitude = Number((exactNumerator + denominator - 1n) / denominator);
    }
  }
  return parts.negative ? -magnitude : magnitude;
}

/**
 * The quantity rounded up (away from zero) to a whole number of base units: apimachinery's `Value()`.
 * `1.5` → 2, `100m` → 1, `1Ki` → 1024.
 */
export function quantityValue(quantity: string | QuantityParts): number {
  return scaledValue(typeof quantity === 'string' ? parseQuantityParts(quantity) : quantity, 0);
}

/**
 * The quantity in thousandths, rounded up (away from zero): apimachinery's `MilliValue()`.
 * `250m` → 250, `1` → 1000, `0.5m` → 1.
 */
export function quantityMilliValue(quantity: string | QuantityParts): number {
  return scaledValue(typeof quantity === 'string' ? parseQuantityParts(quantity) : quantity, -3);
}

/** True for any spelling of zero (`0`, `0m`, `0Gi`, `0.000`). */
export function isZeroQuantity(quantity: string | QuantityParts): boolean {
  return (typeof quantity === 'string' ? parseQuantityParts(quantity) : quantity).digits === '0';
}

/**
 * How the kubelet divides a resource by a downward-API divisor: CPU in millicores (`MilliValue`), every
 * other resource (memory, ephemeral storage, huge pages) in whole units (`Value`).
 */
export type DivisorResolution = 'milli' | 'unit';

/**
 * The quantity expressed in units of `divisor`, rounded up: what the kubelet puts in an environment
 * variable for a `resourceFieldRef`. Both sides are first taken as integers at `resolution`
 * (`MilliValue` for CPU, `Value` otherwise), then divided as float64 and rounded up, exactly as
 * `ConvertResourceCPUToString` and its siblings do. A missing or zero divisor means `1`.
 *
 * Examples: CPU `250m` by `1` → 1, by `1m` → 250; memory `1Gi` by `1Mi` → 1024, `1000` by `1Ki` → 1.
 */
export function divideQuantityCeil(
  quantity: string | QuantityParts,
  divisor: string | QuantityParts | undefined,
  resolution: DivisorResolution,
): number {
  const toInteger = resolution === 'milli' ? quantityMilliValue : quantityValue;
  const numerator = toInteger(quantity);
  const divisorParts = typeof divisor === 'string' ? parseQuantityParts(divisor) : divisor;
  const denominator =
    divisorParts === undefined || divisorParts.digits === '0'
      ? resolution === 'milli'
        ? 1000
        : 1
      : toInteger(divisorParts);
  // Math.ceil yields -0 for small negative quotients; the kubelet's int64 has no negative zero.
  return Math.ceil(numerator / denominator) + 0;
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/**
 * Formats an integer-valued number the way Go's `strconv.FormatInt` would print the kubelet's int64:
 * never in exponent notation, clamped to the int64 range.
 */
export function formatInteger(value: number): string {
  if (Number.isSafeInteger(value)) return String(value);
  if (Number.isNaN(value)) return '0';
  if (value === Number.POSITIVE_INFINITY) return INT64_MAX.toString();
  if (value === Number.NEGATIVE_INFINITY) return INT64_MIN.toString();
  let integer = BigInt(Math.trunc(value));
  if (integer > INT64_MAX) integer = INT64_MAX;
  if (integer < INT64_MIN) integer = INT64_MIN;
  return integer.toString();
}
