import { join } from 'node:path';
import { type Any, type EnvoyObject, identityCertSecretName, meshCaSecretName, unpack, XDS_TYPE_URL } from '@meshfed/shared';
import { writeAtomically } from './files.js';

/** What the zone's SDS secrets of one mesh carry, as PEM. Absent parts were not sent. */
export interface MeshSecrets {
  readonly certPem?: string;
  readonly keyPem?: string;
  readonly caPem?: string;
}

export type SecretsDecoded = { readonly ok: true; readonly secrets: MeshSecrets } | { readonly ok: false; readonly error: string };

/** An Envoy DataSource given inline (the zone's secrets are): its text, or undefined. */
function inline(source: unknown): string | undefined {
  if (typeof source !== 'object' || source === null) return undefined;
  const s = source as { inline_bytes?: Uint8Array; inline_string?: string };
  if (typeof s.inline_string === 'string') return s.inline_string;
  if (s.inline_bytes instanceof Uint8Array) return Buffer.from(s.inline_bytes).toString('utf8');
  return undefined;
}

/**
 * The mesh's identity certificate, key and CA from one SotW secret response. Never throws: a response
 * the agent cannot use is `{ ok: false, error }`, which becomes one NACK.
 */
export function decodeMeshSecrets(mesh: string, resources: readonly Any[]): SecretsDecoded {
  const identityName = identityCertSecretName(mesh);
  const caName = meshCaSecretName(mesh);
  let certPem: string | undefined;
  let keyPem: string | undefined;
  let caPem: string | undefined;
  for (const any of resources) {
    if (any.type_url !== XDS_TYPE_URL.secret) return { ok: false, error: `a secret response carries a resource of type ${any.type_url}` };
    let secret: EnvoyObject;
    try {
      secret = unpack(any);
    } catch (err) {
      return { ok: false, error: `cannot decode a Secret: ${(err as Error).message}` };
    }
    const name = secret['name'];
    if (name === identityName) {
      const tls = secret['tls_certificate'] as { certificate_chain?: unknown; private_key?: unknown } | undefined;
      certPem = inline(tls?.certificate_chain);
      keyPem = inline(tls?.private_key);
      if (certPem === undefined || keyPem === undefined) return { ok: false, error: `secret "${identityName}" has no inline tls_certificate.certificate_chain and private_key` };
    } else if (name === caName) {
      const vc = secret['validation_context'] as { trusted_ca?: unknown } | undefined;
      caPem = inline(vc?.trusted_ca);
      if (caPem === undefined) return { ok: false, error: `secret "${caName}" has no inline validation_context.trusted_ca` };
    }
    // Another name: not subscribed by the agent; SotW may still send it, and it is of no use here.
  }
  return { ok: true, secrets: { ...(certPem !== undefined ? { certPem } : {}), ...(keyPem !== undefined ? { keyPem } : {}), ...(caPem !== undefined ? { caPem } : {}) } };
}

/** Where the agent keeps the app's mesh certificates (what the bootstrap's file_watcher reads). */
export interface CertFiles {
  readonly certificateFile: string;
  readonly privateKeyFile: string;
  readonly caCertificateFile: string;
}

export function certFilesIn(workDir: string): CertFiles {
  return { certificateFile: join(workDir, 'cert.pem'), privateKeyFile: join(workDir, 'key.pem'), caCertificateFile: join(workDir, 'ca.pem') };
}

/**
 * Writes what was sent, each file atomically. The key goes before the certificate: grpc-js-xds
 * reloads both when either changes, and a new certificate next to its old key would not load.
 */
export async function writeMeshSecrets(files: CertFiles, s: MeshSecrets): Promise<void> {
  if (s.keyPem !== undefined) await writeAtomically(files.privateKeyFile, s.keyPem, 0o600);
  if (s.certPem !== undefined) await writeAtomically(files.certificateFile, s.certPem);
  if (s.caPem !== undefined) await writeAtomically(files.caCertificateFile, s.caPem);
}
