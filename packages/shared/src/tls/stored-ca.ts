import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { AlreadyExistsError, VersionConflictError } from '../errors/api-error.js';
import type { ResourceKey } from '../resources/resource.js';
import type { ResourceStore } from '../store/resource-store.js';
import { type CertificateAuthority, generateCa } from './certificates.js';

/** A create that loses a race reads the winner's CA; more rounds than this means something else is wrong. */
const ATTEMPTS = 5;
// Clients keep this CA (bootstraps, operators' --ca-file) for as long as they run: it outlives many restarts.
const CA_VALID_DAYS = 3650;

const StoredCa = z.object({ certPem: z.string().min(1), keyPem: z.string().min(1) });

export interface StoredCaOptions {
  /** The GlobalSecret that holds it: zone-local on a zone, as GlobalSecrets never travel over KDS. */
  readonly secret: string;
  readonly commonName: string;
  /** What an operator must do after replacing an expired CA, for the error (`re-bootstrap every proxy`). */
  readonly afterRenewal?: string;
}

/**
 * A CA of the control plane's own, from the store, created there on first use. Clients are given its
 * certificate, so it must survive restarts and be the same on every replica sharing the store: a CA
 * made anew at each start would leave every client that trusts it unable to reconnect. The create
 * is conditional, and a replica that loses the race reads the winner's CA. A stored CA that cannot be
 * used is an error, never overwritten: replacing it would cut off every client that trusts it.
 */
export async function loadOrCreateStoredCa(store: ResourceStore, o: StoredCaOptions): Promise<{ ca: CertificateAuthority; created: boolean }> {
  const key: ResourceKey = { type: 'GlobalSecret', name: o.secret };
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const existing = await store.get(key);
    if (existing) return { ca: decode(existing.spec, o), created: false };
    const ca = await generateCa({ commonName: o.commonName, validDays: CA_VALID_DAYS });
    const data = Buffer.from(JSON.stringify(ca), 'utf8').toString('base64');
    try {
      await store.commit([{ op: 'put', resource: { ...key, labels: {}, spec: { data } }, expectedVersion: null }]);
    } catch (err) {
      // Another replica created it between our read and our write: use theirs.
      if (err instanceof AlreadyExistsError || err instanceof VersionConflictError) continue;
      throw err;
    }
    return { ca, created: true };
  }
  throw new Error(`GlobalSecret "${o.secret}" could be neither created nor read after ${ATTEMPTS} attempts`);
}

function decode(spec: Readonly<Record<string, unknown>>, o: StoredCaOptions): CertificateAuthority {
  const where = `GlobalSecret "${o.secret}"`;
  if (typeof spec['data'] !== 'string') throw new Error(`${where} has no data`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(spec['data'], 'base64').toString('utf8'));
  } catch {
    throw new Error(`${where} does not hold JSON in base64`);
  }
  const parsed = StoredCa.safeParse(json);
  // Only the path: the message must not carry key material.
  if (!parsed.success) throw new Error(`${where} does not hold a CA (${parsed.error.issues[0]?.path.join('.') || 'data'} is missing or not a string)`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(parsed.data.certPem);
  } catch {
    throw new Error(`${where} holds a certificate that does not parse`);
  }
  if (!cert.ca) throw new Error(`${where} holds "${cert.subject}", which is not a CA certificate`);
  if (Date.parse(cert.validTo) <= Date.now()) {
    throw new Error(`${where} holds a CA that expired on ${cert.validTo}: remove it from the store to have a new one made at the next start, then ${o.afterRenewal ?? 'give every client the new CA'}`);
  }
  return parsed.data;
}
