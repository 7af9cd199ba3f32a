/**
 * The serving certificate's life when no certificate files are given, as the kubelet's
 * certificate manager with `serverTLSBootstrap`/`--rotate-server-certificates`:
 *
 * 1. At start, a valid certificate kept in `--cert-dir` is served again; otherwise a self-signed
 *    one is served while a certificate is requested through the CSR API (which logs, once per
 *    request, the `kubectl certificate approve` command an administrator runs).
 * 2. A certificate is renewed at a random point between 70 % and 90 % of its lifetime (the
 *    kubelet's jitter, so that a fleet does not renew at once): a new key, a new request, and the
 *    new pair goes live for new connections without a restart — open sessions keep theirs.
 * 3. A failed request is retried with exponential backoff (2 s doubling to 5 min), each failure
 *    counted for the metrics and reported as a Warning event on the Node.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import { type EventRecorder, noEvents } from '../kube/events.ts';
import { generatePrivateKey, privateKeyPem } from '../tls/x509.ts';
import { sleep } from '../util/sleep.ts';
import { type KeyMaterial, selfSignedKeyPair } from './serving-certificate.ts';
import { requestServingCertificate } from './serving-certificate-request.ts';
import { certificateProblem, loadStoredPair, storePair } from './serving-certificate-store.ts';

export interface ServingCertificateRotationOptions {
  client: KubeClient;
  nodeName: string;
  /** The node's addresses and names: the certificate's SANs. */
  names: readonly string[];
  /** `--cert-dir`: keeps the issued pair across restarts. Without it, every start requests again. */
  directory?: string;
  /** Requested lifetime (CSR `expirationSeconds`, at least 600). Default: the signer's. */
  expirationSeconds?: number;
  /** Approve our own requests (opt-in; see the README for the risk). */
  selfApprove?: boolean;
  /**
   * Renew this long after a certificate is received instead of at 70–90 % of its lifetime.
   * For tests: the API's shortest lifetime is 10 minutes.
   */
  renewAfterMs?: number;
  /** Called with every new pair, to serve it. */
  onCertificate: (pair: KeyMaterial) => void;
  events?: EventRecorder;
  logger: Logger;
  /** Random source for the renewal jitter (tests). */
  random?: () => number;
}

const MIN_BACKOFF_MS = 2_000;
const MAX_BACKOFF_MS = 5 * 60_000;

/** When the kubelet renews a certificate: a random point between 70 % and 90 % of its lifetime. */
export function rotationDeadline(notBefore: Date, notAfter: Date, random: () => number = Math.random): Date {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return new Date(notBefore.getTime() + lifetime * (0.7 + 0.2 * random()));
}

export class ServingCertificateRotation {
  readonly #options: ServingCertificateRotationOptions;
  readonly #logger: Logger;
  #events: EventRecorder;
  #current: KeyMaterial;
  /** Whether `#current` was issued by the cluster (not the self-signed fallback). */
  #issued = false;
  #renewAt = 0;
  /** Counters for metrics and tests. */
  readonly stats = { issued: 0, failures: 0 };

  constructor(options: ServingCertificateRotationOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#events = options.events ?? noEvents;
    const stored = options.directory ? this.#loadStored(options.directory) : undefined;
    if (stored) {
      this.#current = stored;
      this.#issued = true;
      this.#scheduleRenewal(stored);
      this.#logger.info(
        `serving the certificate kept in ${options.directory} (valid until ${this.expiresAt?.toISOString()})`,
      );
    } else {
      // Until the cluster issues one, API servers that verify kubelets refuse this one.
      this.#current = selfSignedKeyPair(options.nodeName, [...options.names, 'localhost', '127.0.0.1']);
    }
  }

  /** The names the certificate covers. */
  get names(): readonly string[] {
    return this.#options.names;
  }

  /** Records events from now on (a standby's rotation gets the recorder once it leads). */
  useEvents(events: EventRecorder): void {
    this.#events = events;
  }

  /** The pair to serve now. */
  get current(): KeyMaterial {
    return this.#current;
  }

  /** Whether the current certificate was issued by the cluster. */
  get isIssued(): boolean {
    return this.#issued;
  }

  /** The current certificate's expiry. */
  get expiresAt(): Date {
    return new Date(new X509Certificate(this.#current.cert).validTo);
  }

  /** When the current certificate will be renewed (epoch ms; 0: now). */
  get renewAt(): number {
    return this.#renewAt;
  }

  #loadStored(directory: string): KeyMaterial | undefined {
    const stored = loadStoredPair(directory, (why) =>
      this.#logger.warn(`ignoring the stored serving certificate: ${why}`),
    );
    if (!stored) return undefined;
    const problem = certificateProblem(stored, this.#options.names);
    if (problem) {
      this.#logger.info(`not reusing the serving certificate in ${directory}: ${problem}`);
      return undefined;
    }
    return stored;
  }

  #scheduleRenewal(pair: KeyMaterial): void {
    const certificate = new X509Certificate(pair.cert);
    this.#renewAt =
      this.#options.renewAfterMs !== undefined
        ? Date.now() + this.#options.renewAfterMs
        : rotationDeadline(
            new Date(certificate.validFrom),
            new Date(certificate.validTo),
            this.#options.random,
          ).getTime();
  }

  /** Requests and renews the certificate until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    let backoff = MIN_BACKOFF_MS;
    while (!signal.aborted) {
      const wait = this.#renewAt - Date.now();
      if (wait > 0) {
        // Long sleeps in slices: a laptop that slept past the deadline renews when it wakes.
        await sleep(Math.min(wait, 60_000), signal);
        continue;
      }
      try {
        await this.#renew(signal);
        backoff = MIN_BACKOFF_MS;
      } catch (error) {
        if (signal.aborted) return;
        this.stats.failures++;
        const what = this.#issued ? 'renew the serving certificate' : 'obtain a serving certificate from the cluster';
        const message = `could not ${what}: ${errorMessage(error)}; retrying in ${Math.round(backoff / 1000)}s`;
        this.#logger.warn(message);
        this.#events.record(this.#nodeReference(), 'Warning', 'ServingCertificateFailed', message);
        this.#renewAt = Date.now() + backoff;
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      }
    }
  }

  async #renew(signal: AbortSignal): Promise<void> {
    const { client, nodeName, names } = this.#options;
    const key = generatePrivateKey();
    const chain = await requestServingCertificate({
      client,
      nodeName,
      names,
      key,
      ...(this.#options.expirationSeconds !== undefined ? { expirationSeconds: this.#options.expirationSeconds } : {}),
      ...(this.#options.selfApprove ? { selfApprove: true } : {}),
      logger: this.#logger,
      signal,
      onPending: (csr) => {
        const message = `certificate signing request ${csr} for the serving certificate of node ${nodeName} waits for approval: kubectl certificate approve ${csr}`;
        this.#logger.warn(message);
        this.#events.record(this.#nodeReference(), 'Normal', 'ServingCertificatePending', message);
      },
    });
    const pair = { cert: Buffer.from(chain), key: Buffer.from(privateKeyPem(key)) };
    const certificate = new X509Certificate(pair.cert);
    if (!certificate.publicKey.equals(createPublicKey(key))) {
      throw new Error('the issued certificate is not for the key we sent');
    }
    if (this.#options.directory) {
      try {
        storePair(this.#options.directory, pair);
      } catch (error) {
        this.#logger.warn(
          { err: errorMessage(error) },
          `could not keep the serving certificate in ${this.#options.directory}; it is requested again after a restart`,
        );
      }
    }
    const renewed = this.#issued;
    this.#current = pair;
    this.#issued = true;
    this.stats.issued++;
    this.#scheduleRenewal(pair);
    this.#options.onCertificate(pair);
    this.#logger.info(
      `${renewed ? 'renewed the' : 'now serving the cluster-issued'} serving certificate (serial ${certificate.serialNumber}, valid until ${new Date(certificate.validTo).toISOString()}, renewal at ${new Date(this.#renewAt).toISOString()})`,
    );
  }

  #nodeReference() {
    // The kubelet refers to its Node with the node name as uid.
    return { apiVersion: 'v1', kind: 'Node', metadata: { name: this.#options.nodeName, uid: this.#options.nodeName } };
  }
}
