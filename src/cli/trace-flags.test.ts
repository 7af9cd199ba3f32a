import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { parseCli } from './flags.ts';
import { otlpTracesUrl, parseSampleRate, parseTraceTags } from './trace-flags.ts';

const run = (...args: string[]) => parseCli(['--provider', 'mock', ...args], {});

test('tracing is off by default', () => {
  const config = run();
  assert.equal(config.tracing, undefined);
  assert.deepEqual(config.warnings, []);
});

test('--trace-exporter otlp with the Go binary flags', () => {
  const config = run(
    '--trace-exporter=otlp',
    '--trace-endpoint',
    'http://127.0.0.1:4318',
    '--trace-sample-rate',
    '25',
    '--trace-service-name',
    'vk-a',
    '--trace-tag',
    'a=1,b=2',
    '--trace-tag',
    'c=x=y',
  );
  assert.deepEqual(config.tracing, {
    exporter: 'otlp',
    endpoint: 'http://127.0.0.1:4318/v1/traces',
    sampleRatio: 0.25,
    serviceName: 'vk-a',
    tags: { a: '1', b: '2', c: 'x=y' },
  });
  assert.equal(run('--trace-exporter', 'otlp').tracing?.sampleRatio, 1, 'always by default');
  assert.equal(run('--trace-exporter', 'otlp').tracing?.endpoint, undefined, "the SDK's default endpoint");
});

test("the Go binary's OpenCensus exporters, and trace flags without an exporter, warn", () => {
  const config = run('--trace-exporter', 'jaeger,otlp', '--trace-exporter', 'zpages');
  assert.equal(config.tracing?.exporter, 'otlp');
  assert.equal(config.warnings.length, 2);
  assert.match(config.warnings[0] ?? '', /--trace-exporter jaeger .* not available here .* use --trace-exporter otlp/);
  const off = run('--trace-exporter', 'ocagent', '--trace-sample-rate', 'never', '--trace-tag', 'a=b');
  assert.equal(off.tracing, undefined);
  assert.match(
    off.warnings.at(-1) ?? '',
    /^--trace-sample-rate, --trace-tag without --trace-exporter otlp: tracing is off$/,
  );
});

test('trace flag mistakes are one-line ConfigErrors', () => {
  for (const [args, message] of [
    [['--trace-exporter', 'zipkin'], /--trace-exporter must be otlp, got "zipkin"/],
    [
      ['--trace-sample-rate', '101'],
      /--trace-sample-rate must be always, never or a percentage from 0 to 100, got "101"/,
    ],
    [['--trace-sample-rate=-1'], /percentage/],
    [['--trace-tag', 'novalue'], /--trace-tag must be key=value, got "novalue"/],
    [['--trace-tag', 'provider=x'], /--trace-tag provider is reserved/],
    [
      ['--trace-exporter', 'otlp', '--trace-endpoint', 'localhost:4318'],
      /--trace-endpoint must be an http:\/\/ or https:\/\/ URL/,
    ],
    [['--trace-endpoint', 'grpc://x:4317'], /OTLP over HTTP/],
  ] as const) {
    assert.throws(
      () => run(...args),
      (error: unknown) => error instanceof ConfigError && message.test(error.message),
    );
  }
});

test('sample rates, endpoints and tags as the Go binary reads them', () => {
  assert.equal(parseSampleRate('ALWAYS'), 1);
  assert.equal(parseSampleRate('never'), 0);
  assert.equal(parseSampleRate('0.5'), 0.005);
  assert.equal(parseSampleRate(undefined), 1);
  assert.equal(otlpTracesUrl('https://otel.example:4318/'), 'https://otel.example:4318/v1/traces');
  assert.equal(otlpTracesUrl('http://c:4318/custom/traces'), 'http://c:4318/custom/traces');
  assert.deepEqual(parseTraceTags(['', 'a=,b=c']), { a: '', b: 'c' });
});
