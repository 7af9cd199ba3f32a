import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createCertificateAuthority, createCertificateRequest, generatePrivateKey, issueCertificate } from './x509.ts';

test('a CA signs a serving certificate that node:crypto parses and verifies', () => {
  const ca = createCertificateAuthority('test-ca');
  const caCert = new X509Certificate(ca.certificate);
  assert.equal(caCert.ca, true);
  assert.equal(caCert.subject, 'CN=test-ca');
  assert.ok(caCert.verify(caCert.publicKey), 'self-signed');

  const leaf = issueCertificate(ca, {
    subject: { commonName: 'system:node:vk', organizations: ['system:nodes'] },
    extendedKeyUsage: ['serverAuth'],
    altNames: ['vk.example', '127.0.0.1', '::1', 'fd00::12:34'],
  });
  const cert = new X509Certificate(leaf.certificate);
  assert.equal(cert.ca, false);
  assert.equal(cert.subject, 'O=system:nodes\nCN=system:node:vk');
  assert.equal(cert.issuer, 'CN=test-ca');
  assert.ok(cert.verify(caCert.publicKey));
  assert.ok(cert.checkIssued(caCert));
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(cert.checkIP('::1'), '::1');
  assert.equal(cert.checkIP('fd00::12:34'), 'fd00::12:34');
  assert.equal(cert.checkHost('vk.example'), 'vk.example');
  assert.equal(cert.checkHost('other.example'), undefined);
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.ok(cert.checkPrivateKey(createPrivateKey(leaf.key)));
});

test('openssl verifies the chain and reads the extensions', (t) => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    t.skip('openssl is not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vk-x509-'));
  const ca = createCertificateAuthority('chain-ca');
  const client = issueCertificate(ca, {
    subject: { commonName: 'admin', organizations: ['system:masters', 'ops'] },
    extendedKeyUsage: ['clientAuth'],
  });
  writeFileSync(join(dir, 'ca.crt'), ca.certificate);
  writeFileSync(join(dir, 'client.crt'), client.certificate);
  const verified = execFileSync('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', 'ca.crt', 'client.crt'], {
    cwd: dir,
  }).toString();
  assert.match(verified, /client\.crt: OK/);
  const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', 'client.crt'], { cwd: dir }).toString();
  assert.match(text, /Subject: O = system:masters, O = ops, CN = admin/);
  assert.match(text, /TLS Web Client Authentication/);
  assert.match(text, /Digital Signature, Key Encipherment/);
});

test('a certificate request carries subject, key and SANs', (t) => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    t.skip('openssl is not installed');
    return;
  }
  const key = generatePrivateKey();
  const pem = createCertificateRequest({
    subject: { commonName: 'system:node:vk-1', organizations: ['system:nodes'] },
    key,
    altNames: ['vk-1', '10.0.0.7'],
  });
  const text = execFileSync('openssl', ['req', '-noout', '-text', '-verify'], { input: pem, stdio: 'pipe' }).toString();
  assert.match(text, /Subject: O = system:nodes, CN = system:node:vk-1/);
  assert.match(text, /DNS:vk-1, IP Address:10\.0\.0\.7/);
});

test('an RSA key signs too', () => {
  const key = generatePrivateKey('rsa');
  const ca = { ...createCertificateAuthority('rsa-ca') };
  const leaf = issueCertificate(ca, { subject: { commonName: 'x' }, key });
  assert.equal(new X509Certificate(leaf.certificate).publicKey.asymmetricKeyType, 'rsa');
});
