import { randomUUID } from 'node:crypto';
import { type CryptoKey, calculateJwkThumbprint, importJWK, type JWK, SignJWT } from 'jose';
import { z } from 'zod';
import { BadRequestError, type Cause } from '../errors/api-error.js';
import { resourceNameSchema } from '../resources/meta.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { Logger } from '../telemetry/logger.js';
import { ZoneTokenError } from './errors.js';
import { isoSeconds, verifySignedJwt } from './signed-jwt.js';
import { loadOrCreateSigningKey, publicJwkOf, type SigningKey, ZONE_TOKEN_ALG } from './signing-key.js';

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
 * Checks zone tokens with only global's public key: global itself, and later a federated zone that
 * received the key over KDS. Every refusal is a ZoneTokenError whose `reason` and message say which.
 */
export class ZoneTokenVerifier {
  private constructor(
    private readonly key: CryptoKey,
    private readonly jwk: JWK,
    readonly kid: string,
    private readonly now: () => number,
  ) {}

  /** From global's public JWK (a private one is reduced to its public half). */
  static async fromPublicJwk(jwk: JWK, options: ClockOptions = {}): Promise<ZoneTokenVerifier> {
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
      throw new TypeError(`a zone token verifier needs an EC P-256 public JWK, got kty ${String(jwk.kty)} crv ${String(jwk.crv)}`);
    }
    const kid = jwk.kid ?? (await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }));
    const pub = publicJwkOf(jwk, kid);
    const key = await importJWK(pub, ZONE_TOKEN_ALG);
    if (key instanceof Uint8Array) throw new TypeError('a zone token verifier needs an asymmetric key');
    return new ZoneTokenVerifier(key, pub, kid, options.now ?? Date.now);
  }

  publicJwk(): JWK {
    return { ...this.jwk };
  }

  /** The token's claims, or a ZoneTokenError that says exactly what is wrong with it. */
  async verify(token: string | null | undefined, expect: ZoneTokenExpectation): Promise<VerifiedZoneToken> {
    const { payload, kid } = await verifySignedJwt(token, {
      noun: 'zone token', key: this.key, kid: this.kid, keyOwner: "this control plane's key",
      otherKeyHint: '(was it issued by another global control plane?)', now: this.now(),
    }, (reason, message, cause) => new ZoneTokenError(reason, message, cause !== undefined ? { cause } : undefined));
    const claims = Claims.safeParse(payload, { reportInput: true });
    if (!claims.success) {
      const i = claims.error.issues[0]!;
      throw malformed(`claim ${i.path.join('.') || '(payload)'}: ${i.message}`);
    }
    const c = claims.data;
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

/**
 * Issues and checks zone tokens with global's signing key (Kuma's zone tokens): ES256 JWTs with
 * `zone`, `scope`, `iat`, `exp`, `jti` and `iss: meshfed-global`, the key id in the header.
 */
export class ZoneTokens implements ZoneTokenIssuer {
  private constructor(
    private readonly key: SigningKey,
    readonly verifier: ZoneTokenVerifier,
    private readonly now: () => number,
    private readonly log: Logger | undefined,
  ) {}

  /** Loads the signing key from the store, creating it there the first time (see loadOrCreateSigningKey). */
  static async open(store: ResourceStore, options: ClockOptions & { readonly log?: Logger } = {}): Promise<ZoneTokens> {
    const key = await loadOrCreateSigningKey(store, options.log ? { log: options.log } : {});
    return ZoneTokens.fromSigningKey(key, options);
  }

  static async fromSigningKey(key: SigningKey, options: ClockOptions & { readonly log?: Logger } = {}): Promise<ZoneTokens> {
    const now = options.now ?? Date.now;
    return new ZoneTokens(key, await ZoneTokenVerifier.fromPublicJwk(key.publicJwk, { now }), now, options.log);
  }

  get kid(): string {
    return this.key.kid;
  }

  /** Global's public key, for whoever verifies zone tokens elsewhere. */
  publicJwk(): JWK {
    return this.verifier.publicJwk();
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
    const token = await new SignJWT({ zone, scope: scopes })
      .setProtectedHeader({ alg: ZONE_TOKEN_ALG, kid: this.key.kid, typ: 'JWT' })
      .setIssuer(ZONE_TOKEN_ISSUER)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(jti)
      .sign(this.key.privateKey);
    // An audit line, never the token itself: it is a credential. (`zone` is taken: a zone CP's lines carry its own.)
    this.log?.info({ tokenZone: zone, scopes, jti, expiresAt: isoSeconds(exp) }, 'issued a zone token');
    return token;
  }

  verify(token: string | null | undefined, expect: ZoneTokenExpectation): Promise<VerifiedZoneToken> {
    return this.verifier.verify(token, expect);
  }
}
