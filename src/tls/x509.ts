/**
 * Creates X.509 certificates and PKCS#10 certificate requests with `node:crypto` keys.
 *
 * Node can parse and verify certificates but not create them, and the maintained npm
 * libraries that can need a global `reflect-metadata` polyfill, which a library must not
 * impose on its users. What Kubernetes needs is small: a CA, serving and client
 * certificates with SANs, and a CSR for the `kubernetes.io/kubelet-serving` signer.
 */
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';
import {
  bitString,
  boolean,
  contextTag,
  integer,
  namedBitString,
  nullValue,
  objectIdentifier,
  octetString,
  sequence,
  set,
  time,
  utf8String,
} from './der.ts';

/** The distinguished name Kubernetes reads: user = CN, groups = O. */
export interface Subject {
  commonName: string;
  organizations?: readonly string[];
}

export type KeyUsage = 'digitalSignature' | 'keyEncipherment' | 'keyCertSign' | 'cRLSign';
export type ExtendedKeyUsage = 'serverAuth' | 'clientAuth';

export interface CertificateOptions {
  subject: Subject;
  /** The key the certificate certifies. */
  publicKey: KeyObject;
  /** Who signs: omit for a self-signed certificate (then `signingKey` is the subject's own key). */
  issuer?: { certificate: CertificateAuthority['certificate']; subject: Subject; key: KeyObject };
  /** The subject's private key, used only when self-signing. */
  signingKey?: KeyObject;
  isCA?: boolean;
  keyUsage?: readonly KeyUsage[];
  extendedKeyUsage?: readonly ExtendedKeyUsage[];
  /** DNS names and IP addresses for the subjectAltName extension, in one list. */
  altNames?: readonly string[];
  notBefore?: Date;
  notAfter?: Date;
}

/** A CA as kept in memory: its PEM certificate and the key that signs with it. */
export interface CertificateAuthority {
  certificate: string;
  subject: Subject;
  key: KeyObject;
}

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  certificate: string;
  key: string;
}

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  ed25519: '1.3.101.112',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extendedKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  extensionRequest: '1.2.840.113549.1.9.14',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

const KEY_USAGE_BITS: Record<KeyUsage, number> = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyCertSign: 5,
  cRLSign: 6,
};

/** A new private key: ECDSA P-256 by default (fast to make, accepted everywhere Kubernetes is). */
export function generatePrivateKey(type: 'ec' | 'rsa' = 'ec'): KeyObject {
  if (type === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
}

/** PKCS#8 PEM of a private key, the format Kubernetes components read. */
export function privateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function encodeName(subject: Subject): Buffer {
  const attributes = [
    ...(subject.organizations ?? []).map((o) => set(sequence(objectIdentifier(OID.organization), utf8String(o)))),
    set(sequence(objectIdentifier(OID.commonName), utf8String(subject.commonName))),
  ];
  return sequence(...attributes);
}

function signatureAlgorithm(key: KeyObject): Buffer {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return sequence(objectIdentifier(OID.ecdsaWithSHA256));
    case 'rsa':
      return sequence(objectIdentifier(OID.sha256WithRSAEncryption), nullValue());
    default:
      throw new TypeError(`unsupported signing key type ${key.asymmetricKeyType}`);
  }
}

function signDer(tbs: Buffer, key: KeyObject): Buffer {
  return sign('sha256', tbs, key);
}

function subjectPublicKeyInfo(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return publicKey.export({ type: 'spki', format: 'der' });
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(key: KeyObject): Buffer {
  const spki = subjectPublicKeyInfo(key);
  // The BIT STRING is the last element of the SPKI sequence; hashing the whole SPKI is an
  // accepted variant and keeps this short. Only uniqueness matters for chain building.
  return createHash('sha1').update(spki).digest();
}

function encodeAltNames(names: readonly string[]): Buffer {
  return sequence(
    ...names.map((name) => {
      const family = isIP(name);
      if (family === 4) return contextTag(7, Buffer.from(name.split('.').map(Number)), false);
      if (family === 6) return contextTag(7, ipv6Bytes(name), false);
      return contextTag(2, Buffer.from(name, 'ascii'), false);
    }),
  );
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail = ''] = address.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = address.includes('::') && tail ? tail.split(':') : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = address.includes('::') ? [...headGroups, ...Array(missing).fill('0'), ...tailGroups] : headGroups;
  const bytes = Buffer.alloc(16);
  for (const [i, group] of groups.entries()) bytes.writeUInt16BE(Number.parseInt(group, 16), i * 2);
  return bytes;
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? sequence(objectIdentifier(oid), boolean(true), octetString(value))
    : sequence(objectIdentifier(oid), octetString(value));
}

function requestedExtensions(options: {
  isCA?: boolean;
  keyUsage?: readonly KeyUsage[];
  extendedKeyUsage?: readonly ExtendedKeyUsage[];
  altNames?: readonly string[];
}): Buffer[] {
  const extensions: Buffer[] = [];
  extensions.push(extension(OID.basicConstraints, true, options.isCA ? sequence(boolean(true)) : sequence()));
  const usages =
    options.keyUsage ??
    (options.isCA ? ['digitalSignature', 'keyCertSign', 'cRLSign'] : ['digitalSignature', 'keyEncipherment']);
  extensions.push(extension(OID.keyUsage, true, namedBitString(usages.map((u) => KEY_USAGE_BITS[u]))));
  if (options.extendedKeyUsage?.length) {
    extensions.push(
      extension(
        OID.extendedKeyUsage,
        false,
        sequence(...options.extendedKeyUsage.map((u) => objectIdentifier(OID[u]))),
      ),
    );
  }
  if (options.altNames?.length) extensions.push(extension(OID.subjectAltName, false, encodeAltNames(options.altNames)));
  return extensions;
}

function toPem(label: string, der: Buffer): string {
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

/** Creates a certificate and returns it as PEM. */
export function createCertificate(options: CertificateOptions): string {
  const signingKey = options.issuer?.key ?? options.signingKey;
  if (!signingKey) throw new TypeError('a self-signed certificate needs signingKey');
  const issuerSubject = options.issuer?.subject ?? options.subject;
  const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + 365 * 24 * 3600_000);
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;

  const extensions = requestedExtensions(options);
  extensions.push(extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(options.publicKey))));
  extensions.push(
    extension(OID.authorityKeyIdentifier, false, sequence(contextTag(0, keyIdentifier(signingKey), false))),
  );

  const tbs = sequence(
    contextTag(0, integer(2n), true), // version v3
    integer(serial),
    signatureAlgorithm(signingKey),
    encodeName(issuerSubject),
    sequence(time(notBefore), time(notAfter)),
    encodeName(options.subject),
    subjectPublicKeyInfo(options.publicKey),
    contextTag(3, sequence(...extensions), true),
  );
  const certificate = sequence(tbs, signatureAlgorithm(signingKey), bitString(signDer(tbs, signingKey)));
  return toPem('CERTIFICATE', certificate);
}

/** Creates a self-signed CA with a fresh key. */
export function createCertificateAuthority(commonName: string, validDays = 3650): CertificateAuthority {
  const key = generatePrivateKey();
  const subject = { commonName };
  const notBefore = new Date(Date.now() - 60_000);
  const certificate = createCertificate({
    subject,
    publicKey: createPublicKey(key),
    signingKey: key,
    isCA: true,
    notBefore,
    notAfter: new Date(notBefore.getTime() + validDays * 24 * 3600_000),
  });
  return { certificate, subject, key };
}

/** Issues a leaf certificate signed by `ca`, with a fresh key. */
export function issueCertificate(
  ca: CertificateAuthority,
  options: Omit<CertificateOptions, 'publicKey' | 'issuer' | 'signingKey'> & { key?: KeyObject },
): KeyPair {
  const key = options.key ?? generatePrivateKey();
  const certificate = createCertificate({
    ...options,
    publicKey: createPublicKey(key),
    issuer: { certificate: ca.certificate, subject: ca.subject, key: ca.key },
  });
  return { certificate, key: privateKeyPem(key) };
}

/** Creates a PKCS#10 certificate signing request (PEM), as `certificates.k8s.io` CSRs carry. */
export function createCertificateRequest(options: {
  subject: Subject;
  key: KeyObject;
  altNames?: readonly string[];
  extendedKeyUsage?: readonly ExtendedKeyUsage[];
}): string {
  const extensions = options.altNames?.length
    ? [extension(OID.subjectAltName, false, encodeAltNames(options.altNames))]
    : [];
  const attributes = extensions.length
    ? contextTag(0, sequence(objectIdentifier(OID.extensionRequest), set(sequence(...extensions))), true)
    : contextTag(0, Buffer.alloc(0), true);
  const info = sequence(integer(0n), encodeName(options.subject), subjectPublicKeyInfo(options.key), attributes);
  return toPem(
    'CERTIFICATE REQUEST',
    sequence(info, signatureAlgorithm(options.key), bitString(signDer(info, options.key))),
  );
}
