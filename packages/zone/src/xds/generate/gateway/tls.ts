/**
 * TLS a builtin gateway terminates on its HTTPS and TLS listeners (`tls.mode: TERMINATE`), from the
 * certificates a listener names: a mesh Secret (`secret`, its base64 `data`), base64 (`inline`) or
 * PEM text (`inlineString`), each holding one private key and its certificate chain in PEM, as Kuma's
 * gateway reads them (pkg/plugins/runtime/gateway/filter_chain_generator.go NewServerSecret). Up to
 * two per hostname, an RSA and an ECDSA one, which Envoy picks from by what the client supports.
 * Material that Envoy would refuse (and so NACK the whole listener) is checked here instead: what is
 * wrong leaves that hostname unserved, said in a problem that names the source and never its content.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { ENVOY_EXTENSION_NAME, ENVOY_TYPE } from '@meshfed/shared';
import { ADS_CONFIG_SOURCE, type Draft, lazyTyped } from '../envoy-parts.js';
import { fastHash } from '../fast-hash.js';
import { type NamedSecrets, readDataSource } from '../data-source.js';
import { envoyKeyProblem } from '../origination.js';
import type { GatewayEntry } from '../zone-index.js';
import type { Listener } from './routes.js';

export type CertificateRef = NonNullable<NonNullable<Listener['tls']>['certificates']>[number];

/** A certificate chain and its key, ready for Envoy (the leaf first, only certificates in the chain). */
export interface ServerCertificate {
  readonly keyType: 'RSA' | 'ECDSA';
  readonly chainPem: string;
  readonly keyPem: string;
}


const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g;

/** How a problem names a certificate: a Secret by its name, inline material by its place in the listener. */
function sourceOf(ref: CertificateRef, index: number): string {
  if ('secret' in ref) return `Secret "${ref.secret}"`;
  return `tls.certificates[${index}] (${'inline' in ref ? 'inline' : 'inlineString'})`;
}


/**
 * One private key and the certificates it goes with, as PEM blocks; what is wrong otherwise (Kuma:
 * exactly one private key, at least one certificate, no other kind of block). The key must be the
 * first certificate's: Envoy presents the first as the leaf.
 */
export function parseServerCertificate(text: string, source: string): ServerCertificate | { issue: string } {
  const certs: string[] = [];
  const keys: string[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    const type = m[1]!;
    if (type === 'CERTIFICATE') certs.push(m[0]);
    else if (type.endsWith('PRIVATE KEY')) keys.push(m[0]);
    else return { issue: `${source} holds a PEM block of type ${type}, which is neither a certificate nor a private key` };
  }
  if (certs.length === 0 && keys.length === 0) return { issue: `${source} holds no PEM certificate and private key` };
  if (certs.length === 0) return { issue: `${source} holds no PEM certificate` };
  if (keys.length === 0) return { issue: `${source} holds no PEM private key` };
  if (keys.length > 1) return { issue: `${source} holds ${keys.length} private keys (one is expected)` };
  let parsed: X509Certificate[];
  try {
    parsed = certs.map((c) => new X509Certificate(c));
  } catch {
    return { issue: `${source} holds a certificate that does not parse` };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: keys[0]!, format: 'pem' });
  } catch {
    return { issue: `${source} holds a private key that is encrypted or does not parse` };
  }
  const unsupported = envoyKeyProblem(key);
  if (unsupported) return { issue: `${source} holds a private key that ${unsupported}` };
  if (!parsed[0]!.checkPrivateKey(key)) return { issue: `${source} holds a private key that is not the key of its first certificate (the leaf must come first)` };
  return { keyType: key.asymmetricKeyType === 'rsa' ? 'RSA' : 'ECDSA', chainPem: `${certs.join('\n')}\n`, keyPem: `${keys[0]}\n` };
}

/** The certificates of one listener hostname, or everything that keeps them from being served. */
export function resolveCertificates(refs: readonly CertificateRef[], secrets: NamedSecrets | undefined): { certificates: ServerCertificate[] } | { issues: string[] } {
  if (refs.length === 0) return { issues: ['tls.certificates is empty: TLS termination needs a certificate'] };
  // Kuma's validation: an RSA and/or an ECDSA certificate, no more.
  if (refs.length > 2) return { issues: [`tls.certificates has ${refs.length} entries: at most two (an RSA and an ECDSA one) are served per hostname`] };
  const issues: string[] = [];
  const certificates: ServerCertificate[] = [];
  refs.forEach((ref, i) => {
    const source = sourceOf(ref, i);
    const got = readDataSource(ref, secrets, source, 'gateway');
    if ('issue' in got) return void issues.push(got.issue);
    const cert = parseServerCertificate(got.text, source);
    if ('issue' in cert) return void issues.push(cert.issue);
    certificates.push(cert);
  });
  if (certificates.length === 2 && certificates[0]!.keyType === certificates[1]!.keyType) {
    issues.push(`tls.certificates are both ${certificates[0]!.keyType}: Envoy serves one RSA and one ECDSA certificate per hostname`);
  }
  return issues.length > 0 ? { issues } : { certificates };
}

// Parsing keys and certificates is the costly part of a gateway's generation: once per parsed
// MeshGateway spec (the index keeps one per stored spec) and certificate list with its Secrets' data.
const resolved = new WeakMap<GatewayEntry['spec'], Map<string, ReturnType<typeof resolveCertificates>>>();

/** resolveCertificates for a listener of `gw`, from the Secrets the index carries with it. */
export function gatewayCertificates(gw: GatewayEntry, refs: readonly CertificateRef[]): ReturnType<typeof resolveCertificates> {
  let perSpec = resolved.get(gw.spec);
  if (!perSpec) resolved.set(gw.spec, (perSpec = new Map()));
  const data = refs.map((r) => ('secret' in r ? (gw.secrets?.[r.secret] ?? '-') : ''));
  const key = `${JSON.stringify(refs)}\u0000${fastHash(data.join('\u0000'))}`;
  let r = perSpec.get(key);
  if (!r) {
    // Bounded: a spec's listeners' lists, each with its Secrets' current data (a renewal replaces it).
    if (perSpec.size >= 64) perSpec.clear();
    perSpec.set(key, (r = resolveCertificates(refs, gw.secrets)));
  }
  return r;
}

/**
 * The SDS secret of a listener hostname's certificate, named for where it is served (not for what it
 * holds): a renewal changes the secret alone, so the listener, and its connections, stay.
 */
export const gatewayCertSecretName = (gateway: string, port: number, hostname: string, keyType: ServerCertificate['keyType']): string =>
  `gateway_cert:${keyType.toLowerCase()}:${gateway}:${port}:${hostname}`;

/** A certificate and its key as an SDS secret (keys travel by SDS only, as Kuma serves a gateway's). */
export function gatewayCertSecret(name: string, c: ServerCertificate): Draft {
  return { name, tls_certificate: { certificate_chain: { inline_string: c.chainPem }, private_key: { inline_string: c.keyPem } } };
}

/**
 * The server side of TLS a gateway terminates, as Kuma's gateway sets it: TLS 1.2 at least, no client
 * certificate asked for, and, for HTTPS, HTTP/2 then HTTP/1.1 offered by ALPN; the certificates by SDS.
 */
export function gatewayDownstreamTls(secretNames: readonly string[], alpn?: readonly string[]): Draft {
  return {
    name: ENVOY_EXTENSION_NAME.tlsTransportSocket,
    typed_config: lazyTyped(ENVOY_TYPE.downstreamTlsContext, {
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
        tls_certificate_sds_secret_configs: secretNames.map((name) => ({ name, sds_config: ADS_CONFIG_SOURCE })),
        ...(alpn ? { alpn_protocols: [...alpn] } : {}),
      },
      require_client_certificate: { value: false },
    }),
  };
}
