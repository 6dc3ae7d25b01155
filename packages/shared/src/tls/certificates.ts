// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the Reflect metadata API
// installed before the library loads: this import must stay first.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

/** A certificate and its private key, PEM (PKCS #8 for the key): what files and gRPC credentials take. */
export interface PemKeyPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A CA that signs server certificates: its certificate is what clients verify with (`--kds-ca-file`). */
export type CertificateAuthority = PemKeyPair;

export interface CertificateOptions {
  readonly commonName: string;
  /** Subject alternative names. With neither these nor `ipAddresses`, the common name is the one DNS name. */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** Default 365. */
  readonly validDays?: number;
}

const KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Certificates start a minute in the past, so a peer whose clock is slightly behind accepts them. */
const BACKDATE_MS = 60_000;
const DNS_NAME = /^(\*\.)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** A self-signed ECDSA P-256 server certificate: what global generates at start without --kds-tls-cert. */
export async function generateSelfSignedCertificate(o: CertificateOptions): Promise<PemKeyPair> {
  const keys = await newKeyPair();
  const { notBefore, notAfter } = validity(o.validDays ?? 365);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialNumber(), name: distinguishedName(o.commonName), notBefore, notAfter, keys, signingAlgorithm: SIGNING_ALG,
      extensions: [...(await serverExtensions(o, keys.publicKey)), await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey, false, webcrypto)],
    },
    webcrypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await keyToPem(keys.privateKey) };
}

/** A CA for labs and tests: give zones its certificate and have it sign global's server certificate. */
export async function generateCa(o: { readonly commonName?: string; readonly validDays?: number } = {}): Promise<CertificateAuthority> {
  const keys = await newKeyPair();
  const { notBefore, notAfter } = validity(o.validDays ?? 3650);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialNumber(), name: distinguishedName(o.commonName ?? 'meshfed CA'), notBefore, notAfter, keys, signingAlgorithm: SIGNING_ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await keyToPem(keys.privateKey) };
}

/** A server certificate signed by `ca`, for the names and addresses clients dial. */
export async function issueServerCertificate(ca: CertificateAuthority, o: CertificateOptions): Promise<PemKeyPair> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const constraints = caCert.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) throw new TypeError(`"${caCert.subject}" is not a CA certificate (no basicConstraints CA:TRUE)`);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), KEY_ALG, false, ['sign']);
  const keys = await newKeyPair();
  const { notBefore, notAfter } = validity(o.validDays ?? 365);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialNumber(), subject: distinguishedName(o.commonName), issuer: caCert.subject, notBefore, notAfter,
      publicKey: keys.publicKey, signingKey: caKey, signingAlgorithm: SIGNING_ALG,
      extensions: [...(await serverExtensions(o, keys.publicKey)), await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey, false, webcrypto)],
    },
    webcrypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await keyToPem(keys.privateKey) };
}

async function newKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALG, true, ['sign', 'verify']);
}

async function keyToPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function serverExtensions(o: CertificateOptions, publicKey: webcrypto.CryptoKey): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
    new x509.SubjectAlternativeNameExtension(subjectAltNames(o), false),
    await x509.SubjectKeyIdentifierExtension.create(publicKey, false, webcrypto),
  ];
}

function subjectAltNames(o: CertificateOptions): x509.JsonGeneralNames {
  const dns = o.dnsNames ?? [];
  const ips = o.ipAddresses ?? [];
  for (const d of dns) if (!DNS_NAME.test(d)) throw new TypeError(`"${d}" is not a DNS name`);
  for (const ip of ips) if (isIP(ip) === 0) throw new TypeError(`"${ip}" is not an IP address`);
  if (dns.length === 0 && ips.length === 0) {
    if (!DNS_NAME.test(o.commonName)) throw new TypeError(`give dnsNames or ipAddresses: the common name "${o.commonName}" is not a DNS name`);
    return [{ type: 'dns', value: o.commonName }];
  }
  return [...dns.map((value) => ({ type: 'dns' as const, value })), ...ips.map((value) => ({ type: 'ip' as const, value }))];
}

function distinguishedName(commonName: string): x509.JsonName {
  if (commonName === '') throw new TypeError('a certificate needs a common name');
  return [{ CN: [commonName] }];
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isFinite(days) || days <= 0) throw new RangeError(`validDays must be positive, got ${days}`);
  const now = Date.now();
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + days * DAY_MS) };
}

/** 128 random bits, positive (top bit clear) and without a leading zero byte, as RFC 5280 asks. */
function serialNumber(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}
