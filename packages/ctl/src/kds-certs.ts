import { mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface KdsCertFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export const kdsCertFiles = (dir: string): KdsCertFiles => ({ ca: join(dir, 'ca.crt'), cert: join(dir, 'kds.crt'), key: join(dir, 'kds.key') });

/**
 * A CA and a KDS server certificate signed by it, for the names zones dial: global gets the
 * certificate and key (--kds-tls-cert/--kds-tls-key), zones the CA (--kds-ca-file), and verification
 * is real instead of skipped.
 */
export async function writeKdsCertificates(dir: string, names: readonly string[], validDays = 365): Promise<KdsCertFiles> {
  // Loaded here, not at the top: X.509 costs every other command ~200 ms of start-up.
  const { generateCa, issueServerCertificate } = await import('@meshfed/shared/tls');
  const files = kdsCertFiles(dir);
  mkdirSync(dir, { recursive: true });
  const ca = await generateCa({ commonName: 'meshfed KDS CA', validDays });
  const server = await issueServerCertificate(ca, {
    commonName: names.find((n) => isIP(n) === 0) ?? 'meshfed-global',
    dnsNames: names.filter((n) => isIP(n) === 0),
    ipAddresses: names.filter((n) => isIP(n) !== 0),
    validDays,
  });
  writeFileSync(files.ca, ca.certPem);
  writeFileSync(files.cert, server.certPem);
  writeFileSync(files.key, server.keyPem, { mode: 0o600 });
  return files;
}
