import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isValidEnvVarName } from './names.ts';

test('any non-empty printable ASCII name without "=" is valid (Kubernetes 1.34 rules)', () => {
  for (const name of ['PATH', 'my.env-name', '_x', '1ST', 'Logging:LogLevel:Default', 'a b', '~!@#$%^&*()']) {
    assert.equal(isValidEnvVarName(name), true, name);
  }
  for (const name of ['', 'A=B', '=', 'ключ', 'tab\there', 'new\nline', 'nul\u0000', 'del\u007f', 'é']) {
    assert.equal(isValidEnvVarName(name), false, JSON.stringify(name));
  }
});
