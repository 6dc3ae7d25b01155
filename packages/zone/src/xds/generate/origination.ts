import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { type EnvoyObject, type ExternalServiceDataSource, type ExternalServiceSpec, isMeshCaKeySecret } from '@meshfed/shared';
import { namedSecrets, readDataSource } from './data-source.js';
import { addressCluster, type Draft, upstreamOriginationTls } from './envoy-parts.js';
import type { ExternalTarget, ResourceView } from './zone-index.js';

/**
 * TLS origination to an external service (its `networking.tls`, Kuma's ExternalService fields): what
 * the proxy that dials it (a sidecar without zoneEgress, or the zone egress) presents and verifies.
 * As Kuma (pkg/xds/envoy/tls UpstreamTlsContextOutsideMesh, ClientSideTLSConfigurer):
 *  - SNI: `serverName`, else the address's host when it is a DNS name; an IP literal sends no SNI.
 *  - With `caCert`: the chain must lead to it, and a SAN must be the name (the SNI, else the address's
 *    host) as a DNS entry or as an IP entry; `skipHostnameVerification` drops the SAN check, never the
 *    chain's. Without `caCert` the server's certificate is not verified (Kuma's ExternalService).
 *  - `clientCert` + `clientKey`: presented to the server; `allowRenegotiation` passed on.
 * Certificates and keys come inline or from a Secret of the mesh (`secret`: its base64 `data`). One
 * that is missing or unusable leaves the external service unserved (its cluster without endpoints),
 * with a problem on the proxy: never plaintext or less verification instead. Problems name fields and
 * Secrets, never their contents.
 */

type Tls = NonNullable<ExternalServiceSpec['networking']['tls']>;
const MATERIAL = ['caCert', 'clientCert', 'clientKey'] as const;
type MaterialField = (typeof MATERIAL)[number];
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The zone's Secrets by mesh, then name: each one's base64 `data`, or null for a Secret no
 * ExternalService may use (a mesh CA's private key: whoever holds it can mint any identity).
 */
export function secretsByMesh(views: readonly ResourceView[]): Map<string, Map<string, string | null>> {
  const out = new Map<string, Map<string, string | null>>();
  for (const v of views) {
    if (v.mesh === undefined) continue;
    let perMesh = out.get(v.mesh);
    if (!perMesh) out.set(v.mesh, (perMesh = new Map()));
    const data = v.spec['data'];
    perMesh.set(v.name, isMeshCaKeySecret({ type: 'Secret', mesh: v.mesh, name: v.name, labels: v.labels }) ? null : typeof data === 'string' ? data : '');
  }
  return out;
}

/**
 * The Secrets an external service's TLS names, as ExternalTarget.secrets holds them (absent when it
 * names none, or has TLS off). Being part of the target, they are part of its dependency version: a
 * change to one regenerates the proxies that dial the service, and no other.
 */
export function referencedSecrets(tls: Tls | undefined, meshSecrets: ReadonlyMap<string, string | null> | undefined): { secrets?: Record<string, string | null> } {
  if (!tls?.enabled) return {};
  const out = namedSecrets(MATERIAL.flatMap((field) => (tls[field]?.secret !== undefined ? [tls[field]!.secret!] : [])), meshSecrets);
  return out ? { secrets: out } : {};
}

/** What a target's TLS resolves to: the PEMs to configure, or why it cannot be originated as asked. */
interface Resolved {
  readonly caPem?: string;
  readonly clientCertPem?: string;
  readonly clientKeyPem?: string;
  readonly problems: readonly string[];
}
const resolvedTargets = new WeakMap<ExternalTarget, Resolved>();

function resolve(target: ExternalTarget): Resolved {
  let r = resolvedTargets.get(target);
  if (!r) resolvedTargets.set(target, (r = resolveUncached(target)));
  return r;
}

function resolveUncached(target: ExternalTarget): Resolved {
  const tls = target.tls;
  if (!tls?.enabled) return { problems: [] };
  const issues: string[] = [];
  const text: Partial<Record<MaterialField, string>> = {};
  for (const field of MATERIAL) {
    const d = tls[field];
    if (d === undefined) continue;
    const got = readDataSource(d, target.secrets, sourceOf(d), 'ExternalService');
    if ('issue' in got) issues.push(`tls.${field}: ${got.issue}`);
    else text[field] = got.text;
  }
  let clientCert: X509Certificate | undefined;
  let clientKey: KeyObject | undefined;
  for (const field of ['caCert', 'clientCert'] as const) {
    const pem = text[field];
    if (pem === undefined) continue;
    const certs = certificates(pem);
    if (certs === undefined) {
      issues.push(`tls.${field}: ${sourceOf(tls[field]!)} is not a PEM certificate`);
      delete text[field];
      continue;
    }
    // Only the certificates go to the proxy: a bundle that also holds a private key must not ship it.
    if (/PRIVATE KEY/.test(pem)) text[field] = `${pem.match(PEM_CERTIFICATE)!.join('\n')}\n`;
    if (field === 'clientCert') clientCert = certs[0];
  }
  if (text.clientKey !== undefined) {
    try {
      clientKey = createPrivateKey({ key: text.clientKey, format: 'pem' });
    } catch {
      issues.push(`tls.clientKey: ${sourceOf(tls.clientKey!)} is not an unencrypted PEM private key`);
    }
  }
  if (clientKey) {
    const unsupported = envoyKeyProblem(clientKey);
    if (unsupported) issues.push(`tls.clientKey: ${sourceOf(tls.clientKey!)} ${unsupported}`);
  }
  if (clientCert && clientKey && !clientCert.checkPrivateKey(clientKey)) issues.push('tls.clientKey is not the key of tls.clientCert');
  if (issues.length > 0) {
    return { problems: [`ExternalService ${target.name} is not served: ${issues.join('; ')} (TLS is originated as configured or not at all)`] };
  }
  return {
    problems: [],
    ...(text.caCert !== undefined ? { caPem: text.caCert } : {}),
    ...(text.clientCert !== undefined && text.clientKey !== undefined ? { clientCertPem: text.clientCert, clientKeyPem: text.clientKey } : {}),
  };
}

/** Why Envoy would refuse a certificate's key: it takes RSA of 2048 bits or more, and ECDSA on P-256, P-384 or P-521. */
export function envoyKeyProblem(key: KeyObject): string | undefined {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return (d?.modulusLength ?? 0) >= 2048 ? undefined : 'is an RSA key shorter than 2048 bits, which Envoy refuses';
  if (key.asymmetricKeyType === 'ec') return ['prime256v1', 'secp384r1', 'secp521r1'].includes(d?.namedCurve ?? '') ? undefined : `is an EC key on ${d?.namedCurve ?? 'an unknown curve'}: Envoy takes P-256, P-384 or P-521`;
  return `is an ${key.asymmetricKeyType ?? 'unknown'} key: Envoy takes RSA or ECDSA keys only`;
}

function sourceOf(d: ExternalServiceDataSource): string {
  return d.secret !== undefined ? `Secret "${d.secret}"` : d.inline !== undefined ? 'inline' : 'inlineString';
}


/** Every certificate of a PEM bundle, parsed; undefined when there is none or one does not parse. */
function certificates(pem: string): X509Certificate[] | undefined {
  const blocks = pem.match(PEM_CERTIFICATE);
  if (!blocks) return undefined;
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch {
    return undefined;
  }
}

/** An IP literal as Envoy writes an IP SAN (IPv6 compressed, lower case); undefined for a DNS name. */
function ipLiteral(host: string): string | undefined {
  const v = isIP(host);
  if (v === 4) return host;
  if (v === 6) return host.includes('.') ? host.toLowerCase() : new URL(`http://[${host}]/`).hostname.slice(1, -1);
  return undefined;
}

/** What of an external service's `networking.tls` cannot be honoured: then it is not served at all. */
export function originationProblems(target: ExternalTarget): string[] {
  return [...resolve(target).problems];
}

export type Origination =
  | { readonly kind: 'plaintext' }
  | { readonly kind: 'tls'; readonly transportSocket: EnvoyObject }
  | { readonly kind: 'refused'; readonly problems: readonly string[] };

/** How the proxy connects to an external service, from its `networking.tls`. */
export function originationFor(target: ExternalTarget): Origination {
  const tls = target.tls;
  if (!tls?.enabled) return { kind: 'plaintext' };
  const r = resolve(target);
  if (r.problems.length > 0) return { kind: 'refused', problems: r.problems };
  const ip = ipLiteral(target.host);
  // SNI can only be a host name (RFC 6066): an IP literal sends none unless serverName says otherwise.
  const sni = tls.serverName ?? (ip === undefined ? target.host : undefined);
  const verify = r.caPem !== undefined && tls.skipHostnameVerification !== true;
  return {
    kind: 'tls',
    transportSocket: upstreamOriginationTls({
      ...(sni !== undefined ? { sni } : {}),
      ...(r.caPem !== undefined ? { caPem: r.caPem } : {}),
      ...(verify ? { verifyName: sni ?? ip ?? target.host } : {}),
      ...(r.clientCertPem !== undefined && r.clientKeyPem !== undefined ? { clientCertPem: r.clientCertPem, clientKeyPem: r.clientKeyPem } : {}),
      ...(tls.allowRenegotiation ? { allowRenegotiation: true } : {}),
    }),
  };
}

/**
 * The cluster to an external service: to its address, with TLS as its `networking.tls` asks. When
 * that TLS cannot be set up (see originationProblems), a cluster without endpoints: calls fail rather
 * than leave the proxy in plaintext or with less verification than configured.
 */
export function originationCluster(name: string, target: ExternalTarget): Draft {
  const o = originationFor(target);
  if (o.kind !== 'refused') return addressCluster(name, target.host, target.port, o.kind === 'tls' ? o.transportSocket : undefined);
  const { dns_lookup_family: _resolved, ...cluster } = addressCluster(name, target.host, target.port);
  return { ...cluster, type: 'STATIC', load_assignment: { cluster_name: name, endpoints: [] } };
}
