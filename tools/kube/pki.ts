/**
 * The local cluster's certificates, made with the package's own X.509 code:
 *
 * | file                         | what it is                                                              |
 * |------------------------------|-------------------------------------------------------------------------|
 * | ca.crt/key                   | cluster CA: API server serving cert and every client cert               |
 * | apiserver.crt/key            | API server serving cert (localhost, 127.0.0.1, kubernetes.default…)     |
 * | admin, controller-manager, scheduler .crt/key | client certs for the kubeconfigs                       |
 * | apiserver-kubelet-client.crt/key | what the API server shows kubelets (`--kubelet-client-certificate`) |
 * | kubelet-ca.crt/key           | signs and verifies virtual nodes' serving certs (`--kubelet-certificate-authority`) |
 * | front-proxy-ca.crt, front-proxy-client.crt/key | the aggregation layer (metrics-server)                |
 * | sa.key, sa.pub               | service-account token signing                                           |
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  generatePrivateKey,
  issueCertificate,
  privateKeyPem,
} from '../../src/tls/x509.ts';

export const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/24';
const FIRST_SERVICE_IP = '10.0.0.1';

/** Client identities with their Kubernetes user (CN) and groups (O). */
const CLIENTS = {
  admin: { commonName: 'kubernetes-admin', organizations: ['system:masters'] },
  'controller-manager': { commonName: 'system:kube-controller-manager' },
  scheduler: { commonName: 'system:kube-scheduler' },
  // No system:masters: like a hardened cluster, the kubelet API admin role is bound explicitly.
  'apiserver-kubelet-client': { commonName: 'kube-apiserver-kubelet-client' },
} as const;

export type ClientName = keyof typeof CLIENTS;

function writePair(dir: string, name: string, pair: { certificate: string; key: string }): void {
  writeFileSync(join(dir, `${name}.crt`), pair.certificate);
  writeFileSync(join(dir, `${name}.key`), pair.key, { mode: 0o600 });
}

function writeCA(dir: string, name: string, ca: CertificateAuthority): void {
  writePair(dir, name, { certificate: ca.certificate, key: privateKeyPem(ca.key) });
}

/** Reads a CA written by {@link generatePki}, to sign more certificates (tests sign node serving certs). */
export function readCA(dir: string, name: 'ca' | 'kubelet-ca'): CertificateAuthority {
  const certificate = readFileSync(join(dir, `${name}.crt`), 'utf8');
  const key = createPrivateKey(readFileSync(join(dir, `${name}.key`)));
  const commonName = name === 'ca' ? 'virtual-kubelet-test-ca' : 'virtual-kubelet-test-kubelet-ca';
  return { certificate, key, subject: { commonName } };
}

/** Writes every certificate into `dir` unless they are already there. */
export function generatePki(dir: string): void {
  if (existsSync(join(dir, 'sa.pub'))) return;
  mkdirSync(dir, { recursive: true });
  const ca = createCertificateAuthority('virtual-kubelet-test-ca');
  writeCA(dir, 'ca', ca);
  writePair(
    dir,
    'apiserver',
    issueCertificate(ca, {
      subject: { commonName: 'kube-apiserver' },
      extendedKeyUsage: ['serverAuth'],
      altNames: [
        'localhost',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
        '127.0.0.1',
        '::1',
        FIRST_SERVICE_IP,
      ],
    }),
  );
  for (const [name, subject] of Object.entries(CLIENTS)) {
    writePair(dir, name, issueCertificate(ca, { subject, extendedKeyUsage: ['clientAuth'] }));
  }
  writeCA(dir, 'kubelet-ca', createCertificateAuthority('virtual-kubelet-test-kubelet-ca'));
  const frontProxyCA = createCertificateAuthority('virtual-kubelet-test-front-proxy-ca');
  writeCA(dir, 'front-proxy-ca', frontProxyCA);
  writePair(
    dir,
    'front-proxy-client',
    issueCertificate(frontProxyCA, { subject: { commonName: 'front-proxy-client' }, extendedKeyUsage: ['clientAuth'] }),
  );
  const serviceAccountKey = generatePrivateKey('rsa');
  writeFileSync(join(dir, 'sa.key'), privateKeyPem(serviceAccountKey), { mode: 0o600 });
  writeFileSync(join(dir, 'sa.pub'), createPublicKey(serviceAccountKey).export({ type: 'spki', format: 'pem' }));
}
