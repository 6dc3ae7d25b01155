import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { BadRequestError, type Cause, fieldPath } from '../errors/api-error.js';
import type { EventBus } from '../events/event-bus.js';
import { meshNameSchema, resourceNameSchema, tagKeySchema, tagValueSchema, tagsSchema } from '../resources/meta.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { Logger } from '../telemetry/logger.js';
import { DataplaneTokenError } from './errors.js';
import { revokedMessage } from './revocation-list.js';
import { isoSeconds, verifySignedJwt } from './signed-jwt.js';
import { SigningKeyRing } from './signing-key-ring.js';
import { ZONE_TOKEN_ALG } from './signing-key.js';
import { MAX_ZONE_TOKEN_VALIDITY_MS, type RevocationCheckOptions } from './zone-token.js';

/** The GlobalSecret in which each zone keeps its own dataplane-token signing key (serial 1; serial N is `<name>-<N>`). */
export const DATAPLANE_TOKEN_SIGNING_KEY = 'dataplane-token-signing-key';
export const DATAPLANE_TOKEN_ISSUER = 'meshfed-zone';
/** Ten years, as for zone tokens. */
export const MAX_DATAPLANE_TOKEN_VALIDITY_MS = MAX_ZONE_TOKEN_VALIDITY_MS;

export interface DataplaneTokenRequest {
  readonly mesh: string;
  readonly name: string;
  /** Carried in the token as Kuma's are; absent or empty: no `tags` claim. */
  readonly tags?: Readonly<Record<string, string>>;
  /** Rounded up to whole seconds, as JWT times are. */
  readonly validForMs: number;
}

/** What the REST route needs: anything that issues (tests pass a fake). */
export interface DataplaneTokenIssuer {
  issue(request: DataplaneTokenRequest): Promise<string>;
}

/** Who the proxy says it is (from its node id): the token must be for exactly this dataplane. */
export interface DataplaneTokenExpectation {
  readonly mesh: string;
  readonly name: string;
}

export interface VerifiedDataplaneToken {
  readonly mesh: string;
  readonly name: string;
  readonly tags: Readonly<Record<string, string>>;
  /** The token's `jti`. */
  readonly id: string;
  /** The signing key's id from the header. */
  readonly kid: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
}

/** What the xDS server needs: anything that verifies (tests pass a fake). */
export interface DataplaneTokenVerifier {
  verify(token: string | null | undefined, expect: DataplaneTokenExpectation): Promise<VerifiedDataplaneToken>;
}

const Claims = z.object({
  iss: z.literal(DATAPLANE_TOKEN_ISSUER, { error: (i) => `issuer ${JSON.stringify(i.input)} is not "${DATAPLANE_TOKEN_ISSUER}"` }),
  mesh: meshNameSchema,
  name: resourceNameSchema,
  tags: tagsSchema.optional(),
  jti: z.string().min(1),
  iat: z.number().int(),
  exp: z.number().int(),
});

const NOUN = 'dataplane token';

const refuse = (reason: DataplaneTokenError['reason'], message: string, cause?: unknown) =>
  new DataplaneTokenError(reason, message, cause !== undefined ? { cause } : undefined);

/** Problems of a token request, each with its field; empty when it can be issued. */
export function dataplaneTokenRequestCauses(request: DataplaneTokenRequest): Cause[] {
  const causes: Cause[] = [];
  const mesh = meshNameSchema.safeParse(request.mesh);
  if (!mesh.success) causes.push({ field: 'mesh', message: mesh.error.issues[0]!.message });
  const name = resourceNameSchema.safeParse(request.name);
  if (!name.success) causes.push({ field: 'name', message: name.error.issues[0]!.message });
  for (const [k, v] of Object.entries(request.tags ?? {})) {
    const field = fieldPath(['tags', k]);
    const key = tagKeySchema.safeParse(k);
    if (!key.success) causes.push({ field, message: key.error.issues[0]!.message });
    const value = tagValueSchema.safeParse(v);
    if (!value.success) causes.push({ field, message: value.error.issues[0]!.message });
  }
  const { validForMs } = request;
  if (!Number.isFinite(validForMs) || validForMs <= 0) causes.push({ field: 'validFor', message: 'must be positive' });
  else if (validForMs > MAX_DATAPLANE_TOKEN_VALIDITY_MS) causes.push({ field: 'validFor', message: 'must be at most 10y' });
  return causes;
}

export interface DataplaneTokensOptions extends RevocationCheckOptions {
  readonly log?: Logger;
  /** The store's change events: keys added or removed by other replicas apply here too. */
  readonly bus?: EventBus;
}

/**
 * Issues and checks dataplane tokens with the zone's own signing keys (Kuma's dataplane tokens): ES256
 * JWTs with `mesh`, `name`, optional `tags`, `iat`, `exp`, `jti` and `iss: meshfed-zone`, the key id in
 * the header. The newest serial signs, every present serial verifies. The keys never leave the zone:
 * only this zone's xDS server verifies what it issued.
 */
export class DataplaneTokens implements DataplaneTokenIssuer, DataplaneTokenVerifier {
  #isRevoked: (id: string) => boolean = () => false;

  private constructor(
    /** Rotated through the API: `/tokens/dataplane/signing-keys`. */
    readonly ring: SigningKeyRing,
    private readonly now: () => number,
    private readonly log: Logger | undefined,
  ) {}

  /** Opens the zone's key ring in the store, creating serial 1 there the first time (see SigningKeyRing.open). */
  static async open(store: ResourceStore, options: DataplaneTokensOptions = {}): Promise<DataplaneTokens> {
    const { log, bus } = options;
    const ring = await SigningKeyRing.open({ store, secretName: DATAPLANE_TOKEN_SIGNING_KEY, purpose: NOUN, ...(bus ? { bus } : {}), ...(log ? { log } : {}) });
    return DataplaneTokens.fromRing(ring, options);
  }

  static fromRing(ring: SigningKeyRing, options: DataplaneTokensOptions = {}): DataplaneTokens {
    const tokens = new DataplaneTokens(ring, options.now ?? Date.now, options.log);
    if (options.isRevoked) tokens.#isRevoked = options.isRevoked;
    return tokens;
  }

  /** The signing key's id: the newest serial's. */
  get kid(): string {
    return this.ring.signer().kid;
  }

  close(): void {
    this.ring.close();
  }

  async issue(request: DataplaneTokenRequest): Promise<string> {
    const causes = dataplaneTokenRequestCauses(request);
    if (causes.length > 0) throw new BadRequestError('Invalid request', 'the dataplane token request is invalid', causes);
    const { mesh, name } = request;
    const tags = request.tags && Object.keys(request.tags).length > 0 ? { ...request.tags } : undefined;
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + Math.ceil(request.validForMs / 1000);
    const jti = randomUUID();
    const signer = this.ring.signer();
    const token = await new SignJWT({ mesh, name, ...(tags ? { tags } : {}) })
      .setProtectedHeader({ alg: ZONE_TOKEN_ALG, kid: signer.kid, typ: 'JWT' })
      .setIssuer(DATAPLANE_TOKEN_ISSUER)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(jti)
      .sign(signer.key.privateKey);
    // An audit line, never the token itself: it is a credential.
    this.log?.info({ dataplane: `${mesh}.${name}`, ...(tags ? { tags } : {}), jti, expiresAt: isoSeconds(exp), serial: signer.serial }, 'issued a dataplane token');
    return token;
  }

  /** The token's claims, or a DataplaneTokenError whose `reason` and message say exactly what is wrong. */
  async verify(token: string | null | undefined, expect: DataplaneTokenExpectation): Promise<VerifiedDataplaneToken> {
    const { payload, kid } = await verifySignedJwt(token, {
      noun: NOUN, keys: this.ring.verificationKeys(), holder: 'this zone control plane', now: this.now(),
    }, refuse);
    const claims = Claims.safeParse(payload, { reportInput: true });
    if (!claims.success) {
      const i = claims.error.issues[0]!;
      throw refuse('malformed', `${NOUN} is malformed: claim ${i.path.join('.') || '(payload)'}: ${i.message}`);
    }
    const c = claims.data;
    if (this.#isRevoked(c.jti)) throw refuse('revoked', revokedMessage('dataplane', c.jti));
    const proxy = `${expect.mesh}.${expect.name}`;
    if (c.mesh !== expect.mesh) {
      throw refuse('mesh-mismatch', `${NOUN} is for mesh "${c.mesh}" ("${c.mesh}.${c.name}"), but the proxy says it is "${proxy}" in mesh "${expect.mesh}"`);
    }
    if (c.name !== expect.name) throw refuse('name-mismatch', `${NOUN} is for "${c.mesh}.${c.name}", but the proxy says it is "${proxy}"`);
    return {
      mesh: c.mesh, name: c.name, tags: c.tags ?? {}, id: c.jti, kid,
      issuedAt: new Date(c.iat * 1000), expiresAt: new Date(c.exp * 1000),
    };
  }
}
