import { randomUUID } from 'node:crypto';
import { type CryptoKey, calculateJwkThumbprint, importJWK, type JWK, SignJWT } from 'jose';
import { z } from 'zod';
import { BadRequestError, type Cause } from '../errors/api-error.js';
import type { EventBus } from '../events/event-bus.js';
import { resourceNameSchema } from '../resources/meta.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { Logger } from '../telemetry/logger.js';
import { ZoneTokenError } from './errors.js';
import { revokedMessage } from './revocation-list.js';
import { isoSeconds, verifySignedJwt } from './signed-jwt.js';
import { SigningKeyRing } from './signing-key-ring.js';
import { publicJwkOf, ZONE_TOKEN_ALG, ZONE_TOKEN_SIGNING_KEY } from './signing-key.js';

/** What a zone token lets its bearer be: a zone CP on KDS, or a zone's ingress or egress proxy on xDS. */
export const ZONE_TOKEN_SCOPES = ['zone', 'ingress', 'egress'] as const;
export type ZoneTokenScope = (typeof ZONE_TOKEN_SCOPES)[number];
export const ZoneTokenScopeSchema = z.enum(ZONE_TOKEN_SCOPES, { error: `must be one of ${ZONE_TOKEN_SCOPES.join(', ')}` });

export const ZONE_TOKEN_ISSUER = 'meshfed-global';
/** Ten years, as Kuma's `y` counts them (365 days). */
export const MAX_ZONE_TOKEN_VALIDITY_MS = 10 * 365 * 86_400_000;

export interface ZoneTokenRequest {
  readonly zone: string;
  readonly scopes: readonly ZoneTokenScope[];
  /** Rounded up to whole seconds, as JWT times are. */
  readonly validForMs: number;
}

/** What the REST route needs: anything that issues (tests pass a fake). */
export interface ZoneTokenIssuer {
  issue(request: ZoneTokenRequest): Promise<string>;
}

export interface ZoneTokenExpectation {
  /** The zone the bearer declares; a token for another zone is refused. Absent: any zone. */
  readonly zone?: string;
  /** The scope this use needs (`zone` for KDS). */
  readonly scope: ZoneTokenScope;
}

export interface VerifiedZoneToken {
  readonly zone: string;
  readonly scopes: readonly ZoneTokenScope[];
  /** The token's `jti`. */
  readonly id: string;
  /** The signing key's id from the header. */
  readonly kid: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
}

export interface ClockOptions {
  /** Milliseconds since the epoch; tests move it. */
  readonly now?: () => number;
}

export interface RevocationCheckOptions extends ClockOptions {
  /** Asked by `jti` for every token that otherwise verifies (a RevocationList's): a revoked one is refused. */
  readonly isRevoked?: (id: string) => boolean;
}

const Claims = z.object({
  iss: z.literal(ZONE_TOKEN_ISSUER, { error: (i) => `issuer ${JSON.stringify(i.input)} is not "${ZONE_TOKEN_ISSUER}"` }),
  zone: resourceNameSchema,
  scope: z.array(ZoneTokenScopeSchema).min(1, 'must name at least one scope'),
  jti: z.string().min(1),
  iat: z.number().int(),
  exp: z.number().int(),
});

const NEEDED_BY: Record<ZoneTokenScope, string> = { zone: 'KDS', ingress: 'a zone ingress', egress: 'a zone egress' };

function malformed(what: string, cause?: unknown): ZoneTokenError {
  return new ZoneTokenError('malformed', `zone token is malformed: ${what}`, cause !== undefined ? { cause } : undefined);
}

/**
 * Checks zone tokens with only global's public keys: global itself (its key ring), and a federated
 * zone with the keys it received over KDS. The token's `kid` picks the key among those present.
 * Every refusal is a ZoneTokenError whose `reason` and message say which.
 */
export class ZoneTokenVerifier {
  #isRevoked: (id: string) => boolean = () => false;

  private constructor(
    private readonly keys: () => ReadonlyMap<string, CryptoKey>,
    /** Oldest serial first. */
    private readonly jwks: () => readonly JWK[],
    private readonly now: () => number,
  ) {}

  /** From global's public JWK (a private one is reduced to its public half). */
  static fromPublicJwk(jwk: JWK, options: RevocationCheckOptions = {}): Promise<ZoneTokenVerifier> {
    return ZoneTokenVerifier.fromPublicJwks([jwk], options);
  }

  /** From every public JWK global published, oldest serial first: each verifies the tokens it signed. */
  static async fromPublicJwks(jwks: readonly JWK[], options: RevocationCheckOptions = {}): Promise<ZoneTokenVerifier> {
    const pubs: JWK[] = [];
    const keys = new Map<string, CryptoKey>();
    for (const jwk of jwks) {
      if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
        throw new TypeError(`a zone token verifier needs an EC P-256 public JWK, got kty ${String(jwk.kty)} crv ${String(jwk.crv)}`);
      }
      const kid = jwk.kid ?? (await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }));
      const pub = publicJwkOf(jwk, kid);
      const key = await importJWK(pub, ZONE_TOKEN_ALG);
      if (key instanceof Uint8Array) throw new TypeError('a zone token verifier needs an asymmetric key');
      pubs.push(pub);
      keys.set(kid, key);
    }
    return ZoneTokenVerifier.#with(new ZoneTokenVerifier(() => keys, () => pubs, options.now ?? Date.now), options);
  }

  /** Follows `ring`: a key added verifies at once, a key removed no longer does. */
  static fromKeyRing(ring: SigningKeyRing, options: RevocationCheckOptions = {}): ZoneTokenVerifier {
    return ZoneTokenVerifier.#with(new ZoneTokenVerifier(() => ring.verificationKeys(), () => ring.keys().map((k) => k.publicJwk), options.now ?? Date.now), options);
  }

  static #with(verifier: ZoneTokenVerifier, options: RevocationCheckOptions): ZoneTokenVerifier {
    if (options.isRevoked) verifier.#isRevoked = options.isRevoked;
    return verifier;
  }

  /** The newest key's id. */
  get kid(): string {
    return this.jwks().at(-1)?.kid ?? '';
  }

  /** Every key's id, oldest serial first. */
  get kids(): string[] {
    return this.jwks().map((j) => j.kid ?? '');
  }

  /** The newest key, public half. */
  publicJwk(): JWK {
    const newest = this.jwks().at(-1);
    return newest ? { ...newest } : {};
  }

  publicJwks(): JWK[] {
    return this.jwks().map((j) => ({ ...j }));
  }

  /** The token's claims, or a ZoneTokenError that says exactly what is wrong with it. */
  async verify(token: string | null | undefined, expect: ZoneTokenExpectation): Promise<VerifiedZoneToken> {
    const { payload, kid } = await verifySignedJwt(token, {
      noun: 'zone token', keys: this.keys(), holder: 'this control plane', now: this.now(),
    }, (reason, message, cause) => new ZoneTokenError(reason, message, cause !== undefined ? { cause } : undefined));
    const claims = Claims.safeParse(payload, { reportInput: true });
    if (!claims.success) {
      const i = claims.error.issues[0]!;
      throw malformed(`claim ${i.path.join('.') || '(payload)'}: ${i.message}`);
    }
    const c = claims.data;
    if (this.#isRevoked(c.jti)) throw new ZoneTokenError('revoked', revokedMessage('zone', c.jti));
    if (expect.zone !== undefined && c.zone !== expect.zone) {
      throw new ZoneTokenError('zone-mismatch', `zone token is for zone "${c.zone}", but this zone declares "${expect.zone}"`);
    }
    if (!c.scope.includes(expect.scope)) {
      throw new ZoneTokenError('wrong-scope', `zone token has scopes [${c.scope.join(', ')}], ${NEEDED_BY[expect.scope]} needs "${expect.scope}"`);
    }
    return {
      zone: c.zone, scopes: [...new Set(c.scope)], id: c.jti, kid,
      issuedAt: new Date(c.iat * 1000), expiresAt: new Date(c.exp * 1000),
    };
  }

}

export interface ZoneTokensOptions extends RevocationCheckOptions {
  readonly log?: Logger;
  /** The store's change events: keys added or removed by other replicas apply here too. */
  readonly bus?: EventBus;
}

/**
 * Issues and checks zone tokens with global's signing keys (Kuma's zone tokens): ES256 JWTs with
 * `zone`, `scope`, `iat`, `exp`, `jti` and `iss: meshfed-global`, the key id in the header. The newest
 * serial of the ring signs; every present serial verifies.
 */
export class ZoneTokens implements ZoneTokenIssuer {
  readonly verifier: ZoneTokenVerifier;

  private constructor(
    /** Rotated through the API: `/tokens/zone/signing-keys`. */
    readonly ring: SigningKeyRing,
    private readonly now: () => number,
    private readonly log: Logger | undefined,
    options: RevocationCheckOptions,
  ) {
    this.verifier = ZoneTokenVerifier.fromKeyRing(ring, { ...options, now });
  }

  /** Opens the key ring in the store, creating serial 1 there the first time (see SigningKeyRing.open). */
  static async open(store: ResourceStore, options: ZoneTokensOptions = {}): Promise<ZoneTokens> {
    const { log, bus } = options;
    const ring = await SigningKeyRing.open({ store, secretName: ZONE_TOKEN_SIGNING_KEY, purpose: 'zone token', ...(bus ? { bus } : {}), ...(log ? { log } : {}) });
    return ZoneTokens.fromRing(ring, options);
  }

  static fromRing(ring: SigningKeyRing, options: ZoneTokensOptions = {}): ZoneTokens {
    return new ZoneTokens(ring, options.now ?? Date.now, options.log, options.isRevoked ? { isRevoked: options.isRevoked } : {});
  }

  /** The signing key's id: the newest serial's. */
  get kid(): string {
    return this.ring.signer().kid;
  }

  /** The signing key's public half, for whoever verifies zone tokens elsewhere. */
  publicJwk(): JWK {
    return { ...this.ring.signer().publicJwk };
  }

  close(): void {
    this.ring.close();
  }

  async issue(request: ZoneTokenRequest): Promise<string> {
    const { zone, validForMs } = request;
    const causes: Cause[] = [];
    const name = resourceNameSchema.safeParse(zone);
    if (!name.success) causes.push({ field: 'zone', message: name.error.issues[0]!.message });
    const scopes = [...new Set(request.scopes)];
    if (scopes.length === 0) causes.push({ field: 'scope', message: 'must name at least one scope' });
    for (const s of scopes) if (!ZONE_TOKEN_SCOPES.includes(s)) causes.push({ field: 'scope', message: `"${String(s)}" is not one of ${ZONE_TOKEN_SCOPES.join(', ')}` });
    if (!Number.isFinite(validForMs) || validForMs <= 0) causes.push({ field: 'validFor', message: 'must be positive' });
    else if (validForMs > MAX_ZONE_TOKEN_VALIDITY_MS) causes.push({ field: 'validFor', message: 'must be at most 10y' });
    if (causes.length > 0) throw new BadRequestError('Invalid request', 'the zone token request is invalid', causes);

    const iat = Math.floor(this.now() / 1000);
    const exp = iat + Math.ceil(validForMs / 1000);
    const jti = randomUUID();
    const signer = this.ring.signer();
    const token = await new SignJWT({ zone, scope: scopes })
      .setProtectedHeader({ alg: ZONE_TOKEN_ALG, kid: signer.kid, typ: 'JWT' })
      .setIssuer(ZONE_TOKEN_ISSUER)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(jti)
      .sign(signer.key.privateKey);
    // An audit line, never the token itself: it is a credential. (`zone` is taken: a zone CP's lines carry its own.)
    this.log?.info({ tokenZone: zone, scopes, jti, expiresAt: isoSeconds(exp), serial: signer.serial }, 'issued a zone token');
    return token;
  }

  verify(token: string | null | undefined, expect: ZoneTokenExpectation): Promise<VerifiedZoneToken> {
    return this.verifier.verify(token, expect);
  }
}
