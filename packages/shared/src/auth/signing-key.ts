import { calculateJwkThumbprint, type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { z } from 'zod';
import { AlreadyExistsError, VersionConflictError } from '../errors/api-error.js';
import type { ResourceKey } from '../resources/resource.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { Logger } from '../telemetry/logger.js';
import { SigningKeyError } from './errors.js';

/** The GlobalSecret that holds global's zone-token signing key. */
export const ZONE_TOKEN_SIGNING_KEY = 'zone-token-signing-key';
/** Every token meshfed signs (zone and dataplane tokens) is ES256. */
export const ZONE_TOKEN_ALG = 'ES256';

export interface SigningKeyOptions {
  readonly log?: Logger;
  /** The GlobalSecret to keep the key in; default the zone-token key's. */
  readonly secretName?: string;
  /** What the key signs, for log lines ("created the zone token signing key"); default "zone token". */
  readonly purpose?: string;
}

/** A create that loses a race reads the winner's key; more rounds than this means something else is wrong. */
const ATTEMPTS = 5;

const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');
const StoredSigningKey = z.object({
  kid: z.string().min(1),
  alg: z.literal(ZONE_TOKEN_ALG),
  privateJwk: z.object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: base64url, y: base64url, d: base64url }),
});
type StoredSigningKey = z.infer<typeof StoredSigningKey>;

/** A token-signing key, loaded: the private half never leaves this object (no toJSON, not logged). */
export interface SigningKey {
  /** Key id: the RFC 7638 thumbprint of the public key, carried in every token's header. */
  readonly kid: string;
  /** Non-extractable. */
  readonly privateKey: CryptoKey;
  /** `kty`, `crv`, `x`, `y`, plus `kid`, `alg` and `use`: safe to publish (KDS sends it to zones). */
  readonly publicJwk: JWK;
}

/**
 * A token-signing key from the store (global's zone-token key unless `secretName` says otherwise),
 * created there on first use. Every replica on the same store and every restart ends up with the same
 * key: the create is conditional (`expectedVersion: null`), and a replica that loses the race reads the
 * winner's key. A stored key that cannot be used is an error, never overwritten: replacing it would
 * silently invalidate every token issued so far.
 */
export async function loadOrCreateSigningKey(store: ResourceStore, options: SigningKeyOptions = {}): Promise<SigningKey> {
  const { log, secretName = ZONE_TOKEN_SIGNING_KEY, purpose = 'zone token' } = options;
  const key: ResourceKey = { type: 'GlobalSecret', name: secretName };
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const existing = await store.get(key);
    if (existing) {
      const loaded = await decode(existing.spec, secretName);
      log?.debug({ kid: loaded.kid }, `loaded the ${purpose} signing key`);
      return loaded;
    }
    const fresh = await generate();
    try {
      await store.commit([{ op: 'put', resource: { ...key, labels: {}, spec: { data: encode(fresh) } }, expectedVersion: null }]);
    } catch (err) {
      // Another replica created it between our read and our write: use theirs.
      if (err instanceof AlreadyExistsError || err instanceof VersionConflictError) continue;
      throw err;
    }
    log?.info({ kid: fresh.kid }, `created the ${purpose} signing key`);
    return toSigningKey(fresh, secretName);
  }
  throw new SigningKeyError(`GlobalSecret "${secretName}" could be neither created nor read after ${ATTEMPTS} attempts`);
}

/** The public half of a JWK, labelled for ES256 signatures. Drops `d` if a private JWK is given. */
export function publicJwkOf(jwk: JWK, kid: string): JWK {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid, alg: ZONE_TOKEN_ALG, use: 'sig' };
}

/** A fresh key as a GlobalSecret's `data`, with its kid; for the key ring, which names and writes it itself. */
export async function generateSigningKeyData(): Promise<{ readonly kid: string; readonly data: string }> {
  const fresh = await generate();
  return { kid: fresh.kid, data: encode(fresh) };
}

/** The key a GlobalSecret's spec holds; a SigningKeyError (without key material) when it holds none usable. */
export function decodeSigningKey(spec: Readonly<Record<string, unknown>>, secretName: string): Promise<SigningKey> {
  return decode(spec, secretName);
}

async function generate(): Promise<StoredSigningKey> {
  const { privateKey } = await generateKeyPair(ZONE_TOKEN_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const { kty, crv, x, y, d } = jwk;
  if (kty !== 'EC' || crv !== 'P-256' || !x || !y || !d) throw new SigningKeyError('the runtime generated an unexpected ES256 key');
  const kid = await calculateJwkThumbprint({ kty, crv, x, y });
  return { kid, alg: ZONE_TOKEN_ALG, privateJwk: { kty: 'EC', crv: 'P-256', x, y, d } };
}

function encode(k: StoredSigningKey): string {
  return Buffer.from(JSON.stringify(k), 'utf8').toString('base64');
}

async function decode(spec: Readonly<Record<string, unknown>>, secretName: string): Promise<SigningKey> {
  const where = `GlobalSecret "${secretName}"`;
  const data = spec.data;
  if (typeof data !== 'string') throw new SigningKeyError(`${where} has no data`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(data, 'base64').toString('utf8'));
  } catch {
    throw new SigningKeyError(`${where} does not hold JSON in base64`);
  }
  const parsed = StoredSigningKey.safeParse(json);
  if (!parsed.success) {
    // Only paths and zod's own words: the message must not carry key material.
    const i = parsed.error.issues[0];
    throw new SigningKeyError(`${where} does not hold an ${ZONE_TOKEN_ALG} signing key (${i ? `${i.path.join('.') || 'data'}: ${i.message}` : 'invalid'})`);
  }
  return toSigningKey(parsed.data, secretName);
}

async function toSigningKey(k: StoredSigningKey, secretName: string): Promise<SigningKey> {
  let privateKey: CryptoKey;
  try {
    privateKey = await importJWK(k.privateJwk, ZONE_TOKEN_ALG, { extractable: false });
  } catch {
    throw new SigningKeyError(`GlobalSecret "${secretName}" holds an ${ZONE_TOKEN_ALG} key that cannot be imported`);
  }
  return { kid: k.kid, privateKey, publicJwk: publicJwkOf(k.privateJwk, k.kid) };
}
