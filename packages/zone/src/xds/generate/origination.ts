import { upstreamOriginationTls } from './envoy-parts.js';
import type { ExternalTarget } from './zone-index.js';

/**
 * TLS origination to an external service (its `networking.tls`): what the proxy that dials it (a
 * sidecar without zoneEgress, or the zone egress) presents and verifies.
 */

function decodeDataSource(d: { secret: string } | { inline: string } | { inlineString: string } | undefined): string | undefined {
  if (d === undefined || 'secret' in d) return undefined;
  return 'inline' in d ? Buffer.from(d.inline, 'base64').toString('utf8') : d.inlineString;
}

/** What of an external service's `networking.tls` cannot be honoured, said per field. */
export function originationProblems(target: ExternalTarget): string[] {
  const tls = target.tls;
  if (!tls?.enabled) return [];
  return (['caCert', 'clientCert', 'clientKey'] as const)
    .filter((field) => { const d = tls[field]; return d !== undefined && 'secret' in d; })
    .map((field) => `ExternalService ${target.name}: tls.${field} by secret reference is not supported yet; use inline or inlineString`);
}

/** TLS origination to an external service, from its `networking.tls`. */
export function originationFor(target: ExternalTarget) {
  const tls = target.tls;
  if (!tls?.enabled) return undefined;
  const caPem = decodeDataSource(tls.caCert);
  const clientCertPem = decodeDataSource(tls.clientCert);
  const clientKeyPem = decodeDataSource(tls.clientKey);
  const mode = tls.verification?.mode ?? 'Secured';
  const verifyName = mode === 'Secured' || mode === 'SkipCA' ? (tls.verification?.serverName ?? tls.serverName ?? target.host) : undefined;
  return upstreamOriginationTls({
    sni: tls.serverName ?? target.host,
    ...(caPem !== undefined && mode !== 'SkipCA' && mode !== 'SkipAll' ? { caPem, ...(verifyName !== undefined && mode === 'Secured' ? { verifyName } : {}) } : {}),
    ...(clientCertPem !== undefined && clientKeyPem !== undefined ? { clientCertPem, clientKeyPem } : {}),
    ...(tls.allowRenegotiation ? { allowRenegotiation: true } : {}),
  });
}

