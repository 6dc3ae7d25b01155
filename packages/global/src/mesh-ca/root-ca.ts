// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the Reflect metadata API
// installed before the library loads: this import must stay first.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** A mesh's root CA: PEM certificate and PEM PKCS #8 private key. */
export interface MeshRootCa {
  readonly certPem: string;
  readonly keyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface MeshRootCaOptions {
  readonly mesh: string;
  /** Lifetime from `now`; Kuma's default for `conf.caCert.expiration` is 10 years. */
  readonly validityMs?: number;
  /** Epoch ms; default Date.now(). */
  readonly now?: number;
}

export const DEFAULT_CA_VALIDITY_MS = 10 * 365 * 86_400_000;

/*
 * The key is ECDSA P-256, whatever `conf.caCert.RSAbits` says (the field is accepted for Kuma
 * compatibility and logged as ignored). P-256 keys are made in a millisecond where a 4096-bit RSA key
 * takes seconds, and its certificates and signatures are a fraction of the size, which counts when
 * every proxy of every zone holds the CA and a certificate. Envoy and every TLS stack the mesh talks
 * to accept P-256.
 */
const KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
/** The CA starts a minute in the past, so a zone whose clock is slightly behind accepts it. */
const BACKDATE_MS = 60_000;

/**
 * A self-signed root CA for `mesh`: subject CN=<mesh>, URI SAN `spiffe://<mesh>` (the SPIFFE trust
 * domain), basicConstraints CA (no path length limit, so zones could one day hold intermediates of it),
 * keyCertSign and cRLSign.
 */
export async function generateMeshRootCa(o: MeshRootCaOptions): Promise<MeshRootCa> {
  const validityMs = o.validityMs ?? DEFAULT_CA_VALIDITY_MS;
  if (!Number.isFinite(validityMs) || validityMs <= 0) throw new RangeError(`CA validity must be positive, got ${validityMs} ms`);
  if (o.mesh === '') throw new TypeError('a mesh CA needs the mesh name');
  const now = o.now ?? Date.now();
  const notBefore = new Date(now - BACKDATE_MS);
  const notAfter = new Date(now + validityMs);
  const keys = await webcrypto.subtle.generateKey(KEY_ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialNumber(), name: [{ CN: [o.mesh] }], notBefore, notAfter, keys, signingAlgorithm: SIGNING_ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${o.mesh}` }], false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { certPem: cert.toString('pem'), keyPem, notBefore, notAfter };
}

/** 128 random bits, positive and without a leading zero byte, as RFC 5280 asks. */
function serialNumber(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}
