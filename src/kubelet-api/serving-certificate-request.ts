/**
 * Asks the cluster for a serving certificate, as a kubelet with `serverTLSBootstrap` does: a
 * CertificateSigningRequest for the `kubernetes.io/kubelet-serving` signer, subject
 * `system:node:<node>` in `system:nodes`, the node's names and addresses as SANs, usages digital
 * signature and server auth (plus key encipherment for RSA keys). The controller-manager signs
 * it with the cluster's kubelet-serving CA once someone approves it — an administrator
 * (`kubectl certificate approve`), an approver controller, or, when asked to and allowed by
 * RBAC, the virtual kubelet itself.
 */
import type { KeyObject } from 'node:crypto';
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.js';
import type { Logger } from 'pino';
import { errorMessage, KubeApiError } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import { followObject } from '../kube/follow-object.ts';
import { CertificateSigningRequests } from '../kube/resources.ts';
import { kubeTime } from '../kube/time.ts';
import { createCertificateRequest } from '../tls/x509.ts';

export const KUBELET_SERVING_SIGNER = 'kubernetes.io/kubelet-serving';

export interface ServingCertificateRequestOptions {
  client: KubeClient;
  nodeName: string;
  /** DNS names and IP addresses the certificate must cover. */
  names: readonly string[];
  key: KeyObject;
  /** `spec.expirationSeconds` (at least 600); the signer's default lifetime when unset. */
  expirationSeconds?: number;
  /** Approve the request ourselves (needs `approve` on the signer; see deploy/rbac-self-approval.yaml). */
  selfApprove?: boolean;
  /** Called once the request exists and waits for approval. */
  onPending?: (csrName: string) => void;
  logger: Logger;
  signal: AbortSignal;
}

/** The cluster refused the request: denied, failed, or deleted before it was issued. */
export class CertificateRequestRefusedError extends Error {
  override name = 'CertificateRequestRefusedError';
}

/** The CertificateSigningRequest this node files (not yet sent). */
export function servingCertificateSigningRequest(
  options: Pick<ServingCertificateRequestOptions, 'nodeName' | 'names' | 'key' | 'expirationSeconds'>,
): CertificateSigningRequest {
  const request = createCertificateRequest({
    subject: { commonName: `system:node:${options.nodeName}`, organizations: ['system:nodes'] },
    key: options.key,
    altNames: [...new Set(options.names)],
  });
  // The kubelet-serving signer accepts exactly these usages; key encipherment only makes sense for RSA.
  const usages =
    options.key.asymmetricKeyType === 'rsa'
      ? ['key encipherment', 'digital signature', 'server auth']
      : ['digital signature', 'server auth'];
  return {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { generateName: 'csr-', labels: { 'virtual-kubelet.io/node': options.nodeName } },
    spec: {
      request: Buffer.from(request).toString('base64'),
      signerName: KUBELET_SERVING_SIGNER,
      usages,
      ...(options.expirationSeconds !== undefined ? { expirationSeconds: options.expirationSeconds } : {}),
    },
  };
}

/** Files the request and waits until the certificate is issued; resolves with its PEM chain. */
export async function requestServingCertificate(options: ServingCertificateRequestOptions): Promise<string> {
  const { client, signal, logger } = options;
  const created = await client.create(CertificateSigningRequests, servingCertificateSigningRequest(options), {
    signal,
  });
  const name = created.metadata?.name ?? '';
  logger.debug({ csr: name }, 'filed a certificate signing request for the serving certificate');
  if (options.selfApprove) await selfApprove(client, created, logger, signal);
  if (!issued(created)) options.onPending?.(name);
  const waiting = new AbortController();
  for await (const csr of followObject(client, CertificateSigningRequests, name, {
    signal: AbortSignal.any([signal, waiting.signal]),
    onError: (error) => logger.debug({ csr: name, err: errorMessage(error) }, 'watch of the CSR failed; retrying'),
  })) {
    if (!csr) throw new CertificateRequestRefusedError(`the certificate signing request ${name} was deleted`);
    const refusal = csr.status?.conditions?.find(
      (c) => (c.type === 'Denied' || c.type === 'Failed') && c.status === 'True',
    );
    if (refusal) {
      throw new CertificateRequestRefusedError(
        `the certificate signing request ${name} was ${refusal.type === 'Denied' ? 'denied' : 'not signed'}: ${refusal.reason ?? ''}${refusal.message ? ` (${refusal.message})` : ''}`,
      );
    }
    const certificate = issued(csr);
    if (certificate) {
      waiting.abort();
      return certificate;
    }
  }
  signal.throwIfAborted();
  throw new Error('stopped waiting for the certificate');
}

function issued(csr: CertificateSigningRequest): string | undefined {
  const certificate = csr.status?.certificate;
  return certificate ? Buffer.from(certificate, 'base64').toString('utf8') : undefined;
}

/**
 * Adds the Approved condition through the `approval` subresource. Forbidden (no `approve` on
 * the signer) is not fatal: the request stays pending for an administrator.
 */
async function selfApprove(
  client: KubeClient,
  csr: CertificateSigningRequest,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  const name = csr.metadata?.name ?? '';
  try {
    await client.replace(
      CertificateSigningRequests,
      {
        ...csr,
        status: {
          ...csr.status,
          conditions: [
            ...(csr.status?.conditions ?? []),
            {
              type: 'Approved',
              status: 'True',
              reason: 'SelfApproved',
              message: 'approved by the virtual kubelet for its own node (--self-approve-serving-certificate)',
              lastUpdateTime: kubeTime(),
            },
          ],
        },
      },
      { subresource: 'approval', signal },
    );
    logger.info({ csr: name }, 'approved our own certificate signing request');
  } catch (error) {
    if (!(error instanceof KubeApiError && error.statusCode === 403)) throw error;
    logger.warn(
      { csr: name, err: errorMessage(error) },
      'could not approve our own certificate signing request (RBAC: see deploy/rbac-self-approval.yaml); it waits for an administrator',
    );
  }
}
