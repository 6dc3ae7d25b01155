// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the Reflect metadata API
// installed before the library loads: this import must stay first.
import 'reflect-metadata';
import { createHash, createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate as NodeX509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { meshNameSchema, tagValueSchema } from '@meshfed/shared';

/** A dataplane's certificate and key (PEM, PKCS #8), with the instants the cache and xDS need. */
export interface WorkloadCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  /** When it was issued; its lifetime, for rotation, runs from here to notAfter. */
  readonly issuedAt: Date;
  readonly notAfter: Date;
}

export interface WorkloadIdentity {
  readonly mesh: string;
  /** The `kuma.io/service` tag of the dataplane's inbound (its common name). */
  readonly service: string;
  /**
   * The dataplane's other inbound services: one certificate carries a SAN for each, so that callers of
   * any of them accept it (Kuma issues one certificate per dataplane, with every service it serves).
   */
  readonly additionalServices?: readonly string[];
  /** Lifetime; default 24 h (Kuma's default `dpCert.rotation.expiration`). Cut short at the CA's own expiry. */
  readonly validityMs?: number;
  /** Epoch ms; default Date.now(). */
  readonly now?: number;
}

export interface IssueWorkloadCertificateOptions extends WorkloadIdentity {
  readonly caCertPem: string;
  readonly caKeyPem: string;
}

export const DEFAULT_WORKLOAD_VALIDITY_MS = 24 * 3_600_000;

/**
 * Share of a certificate's lifetime after which it is replaced: at 80% a 24 h certificate is renewed
 * with 4.8 h to spare, time enough to reach a proxy that is reconnecting or a control plane that is
 * restarting, while certificates are not churned needlessly. It is Kuma's choice too (4/5 of the lifetime).
 */
export const ROTATION_FRACTION = 0.8;

const KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
/** Leaves start a minute in the past, so a peer whose clock is slightly behind accepts them. */
const BACKDATE_MS = 60_000;
/** X.520 upper bound of a common name; longer service names are carried by the SANs only. */
const MAX_COMMON_NAME = 64;

type Instant = Date | number;
const ms = (t: Instant) => (typeof t === 'number' ? t : t.getTime());

/** The instant from which a certificate issued at `issuedAt` and expiring at `notAfter` should be replaced. */
export function rotationDueAt(notAfter: Instant, issuedAt: Instant): Date {
  const start = ms(issuedAt);
  return new Date(start + Math.max(0, ms(notAfter) - start) * ROTATION_FRACTION);
}

/** True once 80% of the certificate's lifetime has passed (see ROTATION_FRACTION). */
export function needsRotation(notAfter: Instant, issuedAt: Instant, now: Instant): boolean {
  return ms(now) >= rotationDueAt(notAfter, issuedAt).getTime();
}

/** The SPIFFE id a dataplane of `service` in `mesh` presents. */
export const spiffeId = (mesh: string, service: string) => `spiffe://${mesh}/${service}`;
/** The URI Kuma adds next to the SPIFFE id. */
export const kumaServiceUri = (service: string) => `kuma://kuma.io/service/${service}`;

/**
 * A mesh CA ready to sign: its certificate and key are parsed, checked and imported once, then used
 * for every leaf. Only ECDSA P-256 CA keys are taken, which is what global makes.
 */
export class MeshCaSigner {
  readonly certPem: string;
  /** SHA-256 of the CA certificate, hex. */
  readonly fingerprint: string;
  readonly notAfter: Date;
  readonly #cert: x509.X509Certificate;
  readonly #key: webcrypto.CryptoKey;
  readonly #authorityKeyId: x509.AuthorityKeyIdentifierExtension;

  private constructor(certPem: string, cert: x509.X509Certificate, key: webcrypto.CryptoKey, authorityKeyId: x509.AuthorityKeyIdentifierExtension) {
    this.certPem = certPem;
    this.fingerprint = createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex');
    this.notAfter = cert.notAfter;
    this.#cert = cert;
    this.#key = key;
    this.#authorityKeyId = authorityKeyId;
  }

  static async load(caCertPem: string, caKeyPem: string): Promise<MeshCaSigner> {
    let cert: x509.X509Certificate;
    let nodeCert: NodeX509Certificate;
    try {
      cert = new x509.X509Certificate(caCertPem);
      nodeCert = new NodeX509Certificate(caCertPem);
    } catch (err) {
      throw new TypeError(`the mesh CA certificate does not parse: ${(err as Error).message}`);
    }
    if (!cert.getExtension(x509.BasicConstraintsExtension)?.ca) throw new TypeError(`"${cert.subject}" is not a CA certificate (no basicConstraints CA:TRUE)`);
    let key: ReturnType<typeof createPrivateKey>;
    try {
      key = createPrivateKey(caKeyPem);
    } catch (err) {
      throw new TypeError(`the mesh CA key does not parse: ${(err as Error).message}`);
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      const kind = [key.asymmetricKeyType, key.asymmetricKeyDetails?.namedCurve].filter(Boolean).join(' ');
      throw new TypeError(`the mesh CA key is ${kind}; only ECDSA P-256 is supported`);
    }
    const spki = (k: ReturnType<typeof createPublicKey>) => k.export({ type: 'spki', format: 'der' });
    if (!spki(createPublicKey(key)).equals(spki(nodeCert.publicKey))) throw new TypeError('the mesh CA key does not belong to the mesh CA certificate');
    const signingKey = await webcrypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), KEY_ALG, false, ['sign']);
    const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    const aki = ski ? new x509.AuthorityKeyIdentifierExtension(ski, false) : await x509.AuthorityKeyIdentifierExtension.create(cert.publicKey, false, webcrypto);
    return new MeshCaSigner(caCertPem, cert, signingKey, aki);
  }

  /**
   * A fresh ECDSA P-256 key and a leaf for it: URI SANs `spiffe://<mesh>/<service>` and
   * `kuma://kuma.io/service/<service>` for the service and each additional one, EKU serverAuth and clientAuth (a dataplane is both ends of
   * mTLS), not a CA.
   */
  async issue(o: WorkloadIdentity): Promise<WorkloadCertificate> {
    const mesh = meshNameSchema.safeParse(o.mesh);
    if (!mesh.success) throw new TypeError(`invalid mesh name "${o.mesh}": ${mesh.error.issues[0]?.message ?? 'invalid'}`);
    const services = [o.service, ...(o.additionalServices ?? []).filter((s) => s !== o.service)];
    for (const name of services) {
      const service = tagValueSchema.safeParse(name);
      if (!service.success) throw new TypeError(`invalid service name "${name}": ${service.error.issues[0]?.message ?? 'invalid'}`);
    }
    const validityMs = o.validityMs ?? DEFAULT_WORKLOAD_VALIDITY_MS;
    if (!Number.isFinite(validityMs) || validityMs <= 0) throw new RangeError(`certificate validity must be positive, got ${validityMs} ms`);
    const now = o.now ?? Date.now();
    if (now >= this.notAfter.getTime()) throw new RangeError(`the CA of mesh "${o.mesh}" expired at ${this.notAfter.toISOString()}`);
    // A leaf never outlives its CA: it would stop verifying at the CA's expiry anyway.
    const notAfter = new Date(Math.min(now + validityMs, this.notAfter.getTime()));
    const keys = await webcrypto.subtle.generateKey(KEY_ALG, true, ['sign', 'verify']);
    const subject: x509.JsonName = [{ O: [o.mesh] }, ...(o.service.length <= MAX_COMMON_NAME ? [{ CN: [o.service] }] : [])];
    const cert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: serialNumber(), subject, issuer: this.#cert.subject, notBefore: new Date(now - BACKDATE_MS), notAfter,
        publicKey: keys.publicKey, signingKey: this.#key, signingAlgorithm: SIGNING_ALG,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
          new x509.SubjectAlternativeNameExtension(services.flatMap((service) => [
            { type: 'url' as const, value: spiffeId(o.mesh, service) },
            { type: 'url' as const, value: kumaServiceUri(service) },
          ]), false),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
          this.#authorityKeyId,
        ],
      },
      webcrypto,
    );
    const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
    return { certPem: cert.toString('pem'), keyPem, issuedAt: new Date(now), notAfter };
  }
}

/** Issues one workload certificate signed by the mesh CA (loads the CA each call; the cache loads it once). */
export async function issueWorkloadCertificate(o: IssueWorkloadCertificateOptions): Promise<WorkloadCertificate> {
  const ca = await MeshCaSigner.load(o.caCertPem, o.caKeyPem);
  return ca.issue(o);
}

/** 128 random bits, positive and without a leading zero byte, as RFC 5280 asks. */
function serialNumber(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}
