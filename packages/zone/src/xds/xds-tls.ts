import { X509Certificate } from 'node:crypto';
import { ServerCredentials } from '@grpc/grpc-js';
import {
  certificateNames, endsSelfSigned, FlagError, issueServerCertificate, type Logger, type PemKeyPair, pemCertificates, readFlagFile, readGivenCertificate,
  type ResourceStore, serverCredentials,
} from '@meshfed/shared';
import type { ZoneFlags } from '../flags.js';
import { loadOrCreateXdsCa } from './xds-ca-store.js';

// Moved to @meshfed/shared with the API's HTTPS, which names its certificate the same way.
export { certificateNames };

export type XdsTlsFlags = Pick<ZoneFlags, 'xdsTlsCert' | 'xdsTlsKey' | 'xdsTlsCa' | 'xdsInsecure'>;

/** What the flags ask for, checked and read before anything starts. */
export type XdsTlsPlan =
  | { readonly kind: 'insecure' }
  | {
    readonly kind: 'given';
    readonly pair: PemKeyPair;
    /** What bootstraps trust: --xds-tls-ca, else the certificate chain itself. */
    readonly caPem: string;
    readonly chain: readonly X509Certificate[];
    /** --xds-tls-ca's first certificate, for the log; absent without that flag. */
    readonly ca?: X509Certificate;
  }
  | { readonly kind: 'own-ca' };

/** How the ADS server binds, and what proxies trust it with. */
export interface XdsTls {
  readonly credentials: ServerCredentials;
  /** PEM put in bootstraps and served at GET /xds-ca.crt; absent when xDS is plaintext. */
  readonly caPem?: string;
}

/** Checks the --xds-tls-* and --xds-insecure flags together and reads their files; every mistake is a FlagError. */
export async function planXdsTls(flags: XdsTlsFlags): Promise<XdsTlsPlan> {
  const { xdsTlsCert: certFile, xdsTlsKey: keyFile, xdsTlsCa: caFile } = flags;
  if (flags.xdsInsecure) {
    const given = [certFile && '--xds-tls-cert', keyFile && '--xds-tls-key', caFile && '--xds-tls-ca'].filter(Boolean);
    if (given.length > 0) throw new FlagError(`--xds-insecure and ${given.join(', ')} contradict each other: choose one`);
    return { kind: 'insecure' };
  }
  if ((certFile === undefined) !== (keyFile === undefined)) throw new FlagError('--xds-tls-cert and --xds-tls-key must be given together');
  if (certFile === undefined || keyFile === undefined) {
    if (caFile !== undefined) throw new FlagError('--xds-tls-ca names the CA that signed --xds-tls-cert: give it with --xds-tls-cert and --xds-tls-key (without them the zone uses a CA of its own)');
    return { kind: 'own-ca' };
  }
  const { pair, chain } = await readGivenCertificate({ cert: certFile, key: keyFile }, { cert: '--xds-tls-cert', key: '--xds-tls-key' });
  if (caFile === undefined) return { kind: 'given', pair, caPem: pair.certPem, chain };
  const caPem = await readFlagFile(caFile, '--xds-tls-ca');
  const cas = pemCertificates(caPem, `--xds-tls-ca ${caFile}`);
  const top = chain.at(-1)!;
  const anchored = cas.some((ca) => ca.fingerprint256 === top.fingerprint256 || (top.checkIssued(ca) && top.verify(ca.publicKey)));
  if (!anchored) throw new FlagError(`--xds-tls-ca ${caFile} did not sign --xds-tls-cert ${certFile} (issued by "${top.issuer}"): proxies would refuse the zone`);
  return { kind: 'given', pair, caPem, chain, ca: cas[0]! };
}

export interface XdsTlsContext {
  readonly store: ResourceStore;
  /** --xds-address: a specific one is a name the certificate must carry. */
  readonly address: string;
  readonly log: Logger;
}

/**
 * The ADS server's credentials, as planned. Without a certificate given, the zone issues itself one
 * at each start from its own CA, kept in the store so that restarts and replicas share it and the CA
 * in every bootstrap stays valid. Logged once, with fingerprints an operator can compare.
 */
export async function startXdsTls(plan: XdsTlsPlan, o: XdsTlsContext): Promise<XdsTls> {
  if (plan.kind === 'insecure') {
    o.log.warn('xDS is served without TLS (--xds-insecure): dataplane and zone tokens and every workload private key (SDS) travel in clear text; use it only in labs and tests');
    return { credentials: ServerCredentials.createInsecure() };
  }
  if (plan.kind === 'given') {
    const leaf = plan.chain[0]!;
    const top = plan.chain.at(-1)!;
    o.log.info({ subject: leaf.subject, subjectAltName: leaf.subjectAltName, fingerprint: leaf.fingerprint256, validTo: leaf.validTo, caFingerprint: (plan.ca ?? top).fingerprint256 },
      `xDS: serving TLS with --xds-tls-cert; bootstraps trust ${plan.ca ? '--xds-tls-ca' : 'that certificate chain'}`);
    if (!plan.ca && !endsSelfSigned(plan.chain)) {
      o.log.warn({ issuer: top.issuer }, 'xDS: --xds-tls-cert does not end in a self-signed certificate, so proxies cannot verify it with the chain alone: give its CA with --xds-tls-ca');
    }
    return { credentials: serverCredentials(plan.pair), caPem: plan.caPem };
  }
  const { ca, created } = await loadOrCreateXdsCa(o.store);
  const names = certificateNames(o.address);
  const pair = await issueServerCertificate(ca, { commonName: 'meshfed-zone-xds', ...names, validDays: 3650 });
  const caCert = new X509Certificate(ca.certPem);
  o.log.info({ fingerprint: new X509Certificate(pair.certPem).fingerprint256, caFingerprint: caCert.fingerprint256, caCreated: created, ...names },
    `xDS: serving TLS with a certificate issued at start by the zone's ${created ? 'new' : 'stored'} xDS CA; bootstraps trust that CA (also at GET /xds-ca.crt). Give --xds-tls-cert/--xds-tls-key for other names`);
  return { credentials: serverCredentials(pair), caPem: ca.certPem };
}
