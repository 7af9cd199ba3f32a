/**
 * Where a serving certificate issued through the CSR API is kept between runs: `--cert-dir`, as the
 * kubelet's `kubelet-server-current.pem` (the certificate chain, then its private key; mode 0600).
 * A restart reuses it while it is valid and covers the node's names, instead of filing a new
 * request that an administrator would have to approve again.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../errors.ts';
import type { KeyMaterial } from './serving-certificate.ts';

export const CURRENT_CERTIFICATE_FILE = 'kubelet-server-current.pem';

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----\n?/g;

/** The pair in `directory`, or undefined when there is none; a damaged file is reported through `onProblem`. */
export function loadStoredPair(directory: string, onProblem: (why: string) => void): KeyMaterial | undefined {
  const path = join(directory, CURRENT_CERTIFICATE_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') onProblem(`cannot read ${path}: ${errorMessage(error)}`);
    return undefined;
  }
  const blocks = [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1], pem: m[0] }));
  const cert = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => b.pem);
  const key = blocks.find((b) => b.label?.endsWith('PRIVATE KEY'))?.pem;
  if (cert.length === 0 || !key) {
    onProblem(`${path} does not hold a certificate and a private key`);
    return undefined;
  }
  const pair = { cert: Buffer.from(cert.join('')), key: Buffer.from(key) };
  try {
    if (!new X509Certificate(pair.cert).checkPrivateKey(createPrivateKey(pair.key))) {
      onProblem(`the key in ${path} does not belong to its certificate`);
      return undefined;
    }
  } catch (error) {
    onProblem(`${path} is damaged: ${errorMessage(error)}`);
    return undefined;
  }
  return pair;
}

/** Writes the pair atomically (a reader never sees half a file), creating the directory. */
export function storePair(directory: string, pair: KeyMaterial): void {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const path = join(directory, CURRENT_CERTIFICATE_FILE);
  const cert = pair.cert.toString('utf8');
  writeFileSync(`${path}.tmp`, `${cert}${cert.endsWith('\n') ? '' : '\n'}${pair.key.toString('utf8')}`, {
    mode: 0o600,
  });
  renameSync(`${path}.tmp`, path);
}

/** Why `pair` cannot serve `names` at `now` (expired, not yet valid, a name not covered), or undefined when it can. */
export function certificateProblem(pair: KeyMaterial, names: readonly string[], now = new Date()): string | undefined {
  const certificate = new X509Certificate(pair.cert);
  if (new Date(certificate.validTo) <= now) return `it expired at ${new Date(certificate.validTo).toISOString()}`;
  if (new Date(certificate.validFrom) > now) return `it is not valid before ${certificate.validFrom}`;
  for (const name of names) {
    const covered = /^[\d.]+$|:/.test(name) ? certificate.checkIP(name) : certificate.checkHost(name);
    if (!covered) return `it does not cover ${name}`;
  }
  return undefined;
}
