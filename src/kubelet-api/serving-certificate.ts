/**
 * The kubelet API's serving certificate: from files (reloaded when they change, so a rotated
 * certificate takes effect without a restart), or, without files, a self-signed one for every
 * address the node publishes.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ConfigError, errorMessage } from '../errors.ts';
import { createCertificate, generatePrivateKey, privateKeyPem } from '../tls/x509.ts';

export interface KeyMaterial {
  cert: Buffer;
  key: Buffer;
}

/** Reads a certificate and key pair; ConfigError names the file on failure. */
export function readKeyPair(certPath: string, keyPath: string): KeyMaterial {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new ConfigError(`cannot read the kubelet API ${what} ${path}: ${errorMessage(error)}`, { cause: error });
    }
  };
  const pair = { cert: read(certPath, 'certificate'), key: read(keyPath, 'key') };
  try {
    createPublicKey(pair.key);
  } catch (error) {
    throw new ConfigError(`${keyPath} is not a PEM private key: ${errorMessage(error)}`, { cause: error });
  }
  return pair;
}

/** Reads a PEM certificate (bundle) file such as a CA; ConfigError names the file on failure. */
export function readCertificateFile(path: string, what: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (error) {
    throw new ConfigError(`cannot read the ${what} ${path}: ${errorMessage(error)}`, { cause: error });
  }
  try {
    new X509Certificate(pem);
  } catch (error) {
    throw new ConfigError(`the ${what} ${path} is not a PEM certificate: ${errorMessage(error)}`, { cause: error });
  }
  return pem;
}

/** A self-signed serving certificate for `names` (DNS names and IP addresses). */
export function selfSignedKeyPair(commonName: string, names: readonly string[]): KeyMaterial {
  const key = generatePrivateKey();
  const certificate = createCertificate({
    subject: { commonName },
    publicKey: createPublicKey(key),
    signingKey: key,
    extendedKeyUsage: ['serverAuth'],
    altNames: [...new Set(names)],
  });
  return { cert: Buffer.from(certificate), key: Buffer.from(privateKeyPem(key)) };
}

/**
 * Calls `onChange` with the new pair whenever the files' modification times change and the new
 * pair loads. Checks every `intervalMs`; returns a function that stops watching.
 */
export function watchKeyPair(
  certPath: string,
  keyPath: string,
  onChange: (pair: KeyMaterial) => void,
  onError: (error: unknown) => void,
  intervalMs = 5_000,
): () => void {
  const stamp = () => {
    try {
      return `${statSync(certPath).mtimeMs}:${statSync(keyPath).mtimeMs}`;
    } catch {
      return 'missing';
    }
  };
  let last = stamp();
  const timer = setInterval(() => {
    const now = stamp();
    if (now === last || now === 'missing') return;
    try {
      onChange(readKeyPair(certPath, keyPath));
      last = now;
    } catch (error) {
      // Half-written files (cert replaced before key): try again at the next tick.
      onError(error);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
