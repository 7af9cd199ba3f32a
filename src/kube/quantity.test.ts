import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../errors.ts';
import {
  divideQuantityCeil,
  formatInteger,
  isZeroQuantity,
  parseQuantity,
  parseQuantityParts,
  quantityMilliValue,
  quantityValue,
  tryParseQuantity,
} from './quantity.ts';

test('parses every suffix family into base units', () => {
  const cases: [string, number][] = [
    ['0', 0],
    ['1', 1],
    ['-1', -1],
    ['+7', 7],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['5.', 5],
    ['007', 7],
    ['100m', 0.1],
    ['250m', 0.25],
    ['1500m', 1.5],
    ['5n', 5e-9],
    ['5u', 5e-6],
    ['1k', 1000],
    ['1M', 1e6],
    ['1G', 1e9],
    ['1T', 1e12],
    ['1P', 1e15],
    ['1E', 1e18],
    ['500Ki', 512_000],
    ['1Ki', 1024],
    ['2Mi', 2 * 1024 ** 2],
    ['2Gi', 2 * 1024 ** 3],
    ['1Ti', 1024 ** 4],
    ['1Pi', 1024 ** 5],
    ['1Ei', 1024 ** 6],
    ['1.5Gi', 1.5 * 1024 ** 3],
    ['1e3', 1000],
    ['1E3', 1000],
    ['1e+3', 1000],
    ['1e-3', 0.001],
    ['12E-2', 0.12],
    ['1.5e2', 150],
    ['-1.5Gi', -1.5 * 1024 ** 3],
    ['1.G', 1e9],
  ];
  for (const [text, expected] of cases) assert.equal(parseQuantity(text), expected, text);
});

test('records the format and exact parts', () => {
  assert.deepEqual(parseQuantityParts('1.50Mi'), {
    negative: false,
    digits: '150',
    exponent: -2,
    binaryExponent: 20,
    format: 'BinarySI',
  });
  assert.deepEqual(parseQuantityParts('-0.025k'), {
    negative: true,
    digits: '25',
    exponent: 0,
    binaryExponent: 0,
    format: 'DecimalSI',
  });
  assert.equal(parseQuantityParts('3e6').format, 'DecimalExponent');
  // Zero has one spelling, whatever the sign or suffix.
  assert.deepEqual(parseQuantityParts('-0.000Gi'), {
    negative: false,
    digits: '0',
    exponent: 0,
    binaryExponent: 0,
    format: 'BinarySI',
  });
});

test('rejects garbage with a clear InvalidInputError', () => {
  const garbage = [
    '',
    ' 1',
    '1 ',
    '-',
    '+',
    '.',
    'Mi',
    'abc',
    '1K', // only lower-case k is kilo
    '1i',
    '1e', // an exponent needs digits
    '1Ki5',
    '1e3.5',
    '1.5.5',
    '--1',
    '1,5',
    '1mm',
    '1ee3',
    '0x10',
    '1e400', // out of float64 range
    '1e99999999999999999999',
  ];
  for (const text of garbage) {
    assert.throws(
      () => parseQuantity(text),
      (error: unknown) =>
        error instanceof InvalidInputError &&
        error.code === 'VK_INVALID_INPUT' &&
        error.message.startsWith(`invalid quantity ${JSON.stringify(text)}`),
      text,
    );
    assert.equal(tryParseQuantity(text), undefined, text);
  }
  assert.equal(tryParseQuantity('2Gi'), 2 * 1024 ** 3);
});

test('Value() rounds up away from zero, exactly', () => {
  const cases: [string, number][] = [
    ['1.5', 2],
    ['100m', 1],
    ['1000m', 1],
    ['1001m', 2],
    ['-1.5', -2],
    ['-100m', -1],
    ['1Ki', 1024],
    ['1.5Ki', 1536],
    ['0.1Ki', 103], // 102.4 → 103
    ['1e-400', 1], // tiny but not zero: Kubernetes rounds it up to 1n, then to 1
    ['0', 0],
    ['1E', 1e18],
    ['1Ei', 2 ** 60],
    ['123456789012345678901234567890e-20', 1234567891], // beyond 2^53 digits: exact via BigInt
  ];
  for (const [text, expected] of cases) assert.equal(quantityValue(text), expected, text);
});

test('MilliValue() rounds up away from zero, exactly (no float drift)', () => {
  const cases: [string, number][] = [
    ['1', 1000],
    ['250m', 250],
    ['0.1', 100], // 0.1 × 1000 in float64 would be 100.00000000000001
    ['0.7', 700],
    ['1.001', 1001],
    ['0.5m', 1],
    ['1n', 1],
    ['-0.5m', -1],
    ['1.5Gi', 1.5 * 1024 ** 3 * 1000],
    ['2e-3', 2],
  ];
  for (const [text, expected] of cases) assert.equal(quantityMilliValue(text), expected, text);
  assert.equal(quantityMilliValue(parseQuantityParts('3')), 3000);
});

test('isZeroQuantity recognises every spelling of zero', () => {
  for (const zero of ['0', '0m', '0Gi', '0.000', '-0', '0e9']) assert.equal(isZeroQuantity(zero), true, zero);
  for (const nonZero of ['1n', '0.001m', '1Ki']) assert.equal(isZeroQuantity(nonZero), false, nonZero);
});

test('divides like the kubelet downward API: CPU in millicores, the rest in units, rounded up', () => {
  // CPU: MilliValue on both sides.
  assert.equal(divideQuantityCeil('250m', '1', 'milli'), 1);
  assert.equal(divideQuantityCeil('250m', '1m', 'milli'), 250);
  assert.equal(divideQuantityCeil('1', '1m', 'milli'), 1000);
  assert.equal(divideQuantityCeil('1500m', '1', 'milli'), 2);
  assert.equal(divideQuantityCeil('2', '1', 'milli'), 2);
  assert.equal(divideQuantityCeil('0', '1', 'milli'), 0);
  assert.equal(divideQuantityCeil('0.1m', '1m', 'milli'), 1); // 0.1m is 1 millicore after rounding
  // A missing or zero divisor is 1.
  assert.equal(divideQuantityCeil('250m', undefined, 'milli'), 1);
  assert.equal(divideQuantityCeil('250m', '0', 'milli'), 1);
  assert.equal(divideQuantityCeil('3Gi', undefined, 'unit'), 3 * 1024 ** 3);
  assert.equal(divideQuantityCeil('3Gi', '0Mi', 'unit'), 3 * 1024 ** 3);
  // Memory, storage, huge pages: Value on both sides.
  assert.equal(divideQuantityCeil('1Gi', '1Mi', 'unit'), 1024);
  assert.equal(divideQuantityCeil('1Gi', '1Gi', 'unit'), 1);
  assert.equal(divideQuantityCeil('1Gi', '1G', 'unit'), 2); // 1.073741824 → 2
  assert.equal(divideQuantityCeil('1000', '1Ki', 'unit'), 1);
  assert.equal(divideQuantityCeil('128Mi', '1k', 'unit'), 134218); // 134217.728 → 134218
  assert.equal(divideQuantityCeil('64M', '1Mi', 'unit'), 62); // 61.03… → 62
  assert.equal(divideQuantityCeil('100m', '1', 'unit'), 1); // Value(100m) is already 1
  // Negative quantities round towards +∞ like math.Ceil, without a negative zero.
  assert.equal(Object.is(divideQuantityCeil('-100m', '1', 'milli'), 0), true);
  assert.equal(divideQuantityCeil('-1500m', '1', 'milli'), -1);
  // Parts are accepted as well as strings.
  assert.equal(divideQuantityCeil(parseQuantityParts('2Gi'), parseQuantityParts('1Gi'), 'unit'), 2);
  assert.throws(() => divideQuantityCeil('2Gi', 'lots', 'unit'), InvalidInputError);
});

test('formatInteger prints like Go strconv.FormatInt of an int64', () => {
  assert.equal(formatInteger(0), '0');
  assert.equal(formatInteger(-0), '0');
  assert.equal(formatInteger(1024), '1024');
  assert.equal(formatInteger(-7), '-7');
  assert.equal(formatInteger(1e18), '1000000000000000000');
  assert.equal(formatInteger(2 ** 60), '1152921504606846976');
  assert.equal(formatInteger(1e30), '9223372036854775807');
  assert.equal(formatInteger(-1e30), '-9223372036854775808');
  assert.equal(formatInteger(Number.POSITIVE_INFINITY), '9223372036854775807');
});
