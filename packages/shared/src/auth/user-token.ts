import { randomUUID } from 'node:crypto';
import { errors, SignJWT } from 'jose';
import { z } from 'zod';
import { BadRequestError, type Cause } from '../errors/api-error.js';
import { GroupsSchema, SubjectNameSchema } from '../resources/access-role.js';
import type { EventBus } from '../events/event-bus.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { Logger } from '../telemetry/logger.js';
import { isoSeconds, verifySignedJwt } from './signed-jwt.js';
import { SigningKeyRing } from './signing-key-ring.js';
import { ZONE_TOKEN_ALG } from './signing-key.js';
import { type ClockOptions, MAX_ZONE_TOKEN_VALIDITY_MS } from './zone-token.js';

/** The GlobalSecret in which each control plane keeps the key that signs its user tokens. */
export const USER_TOKEN_SIGNING_KEY = 'user-token-signing-key';
export const USER_TOKEN_ISSUER = 'meshfed';
/** Only the REST API accepts user tokens: a token made for something else is refused by its audience. */
export const USER_TOKEN_AUDIENCE = 'meshfed-api';
/** A user token is a few hundred bytes; anything far larger is refused before it is parsed. */
export const MAX_USER_TOKEN_BYTES = 8 * 1024;
export const MAX_USER_TOKEN_VALIDITY_MS = MAX_ZONE_TOKEN_VALIDITY_MS;

export type UserTokenFailure = 'missing' | 'malformed' | 'oversized' | 'bad-signature' | 'expired' | 'not-yet-valid' | 'wrong-issuer' | 'wrong-audience' | 'revoked';

/** A user token that does not authenticate its bearer: the REST API answers 401 with this message. */
export class UserTokenError extends Error {
  override readonly name = 'UserTokenError';
  constructor(
    readonly reason: UserTokenFailure,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}


const Claims = z.object({
  iss: z.string(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
  sub: SubjectNameSchema,
  groups: GroupsSchema.default([]),
  jti: z.string().min(1),
  iat: z.number().int(),
  exp: z.number().int(),
  nbf: z.number().int().optional(),
});

export interface UserTokenRequest {
  readonly name: string;
  readonly groups: readonly string[];
  /** Rounded up to whole seconds, as JWT times are. */
  readonly validForMs: number;
}

export interface VerifiedUserToken {
  readonly name: string;
  /** As issued, without the implicit authenticated group. */
  readonly groups: readonly string[];
  /** The token's `jti`, what a revocation names. */
  readonly id: string;
  readonly kid: string;
  readonly expiresAt: Date;
}

export interface UserTokenOptions extends ClockOptions {
  readonly log?: Logger;
  /** Where other replicas' key changes arrive; without it the ring sees only its own. */
  readonly bus?: EventBus;
  /** Asked for every token that otherwise verifies. */
  readonly isRevoked?: (id: string) => boolean;
  /** Tokens whose signature was checked, kept to skip that check next time (0: none; default 1024). */
  readonly verifiedCacheSize?: number;
}

/** The ECDSA check is ~100 µs of CPU per request (npm run bench -- api); a client sends the same token each time. */
const DEFAULT_VERIFIED_CACHE_SIZE = 1024;

/**
 * Issues and checks user tokens (Kuma's): ES256 JWTs signed by this control plane with `sub` (the
 * user's name), `groups`, `iss: meshfed`, `aud: meshfed-api`, `iat`, `exp` and `jti`. Each control
 * plane has its own key: a token of global authenticates on global only.
 */
export class UserTokens {
  /**
   * Verified tokens by their exact text, least recently used first. A hit skips only the signature
   * check: expiry, revocation and the presence of its key are checked on every request.
   */
  private readonly verified = new Map<string, VerifiedUserToken>();

  private constructor(
    readonly ring: SigningKeyRing,
    private readonly now: () => number,
    private readonly log: Logger | undefined,
    private isRevoked: (id: string) => boolean,
    private readonly cacheSize: number,
  ) {}

  /** Opens the ring of signing keys in the store (serial 1 created the first time); rotated like the others. */
  static async open(store: ResourceStore, options: UserTokenOptions = {}): Promise<UserTokens> {
    const ring = await SigningKeyRing.open({
      store, secretName: USER_TOKEN_SIGNING_KEY, purpose: 'user token',
      ...(options.bus ? { bus: options.bus } : {}), ...(options.log ? { log: options.log } : {}),
    });
    return new UserTokens(ring, options.now ?? Date.now, options.log, options.isRevoked ?? (() => false), options.verifiedCacheSize ?? DEFAULT_VERIFIED_CACHE_SIZE);
  }

  close(): void {
    this.ring.close();
  }

  /** Revocations are opened after the key (they need the bus); set once they are. */
  useRevocations(isRevoked: (id: string) => boolean): void {
    this.isRevoked = isRevoked;
  }

  async issue(request: UserTokenRequest): Promise<{ token: string; id: string }> {
    const causes: Cause[] = [];
    const name = SubjectNameSchema.safeParse(request.name);
    if (!name.success) causes.push({ field: 'name', message: name.error.issues[0]!.message });
    const groups = GroupsSchema.safeParse([...new Set(request.groups)]);
    if (!groups.success) causes.push({ field: 'groups', message: groups.error.issues[0]!.message });
    const { validForMs } = request;
    if (!Number.isFinite(validForMs) || validForMs <= 0) causes.push({ field: 'validFor', message: 'must be positive' });
    else if (validForMs > MAX_USER_TOKEN_VALIDITY_MS) causes.push({ field: 'validFor', message: 'must be at most 10y' });
    if (causes.length > 0 || !name.success || !groups.success) throw new BadRequestError('Invalid request', 'the user token request is invalid', causes);

    const iat = Math.floor(this.now() / 1000);
    const exp = iat + Math.ceil(validForMs / 1000);
    const id = randomUUID();
    const signer = this.ring.signer();
    const token = await new SignJWT({ groups: groups.data })
      .setProtectedHeader({ alg: ZONE_TOKEN_ALG, kid: signer.kid, typ: 'JWT' })
      .setIssuer(USER_TOKEN_ISSUER)
      .setAudience(USER_TOKEN_AUDIENCE)
      .setSubject(name.data)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(id)
      .sign(signer.key.privateKey);
    // An audit line, never the token: it is a credential.
    this.log?.info({ user: name.data, groups: groups.data, jti: id, expiresAt: isoSeconds(exp) }, 'issued a user token');
    return { token, id };
  }

  /** The token's user, or a UserTokenError whose reason and message say exactly what is wrong. */
  async verify(token: string | null | undefined): Promise<VerifiedUserToken> {
    const hit = token ? this.verified.get(token) : undefined;
    if (hit && token) {
      this.verified.delete(token);
      // Expired or its key removed: the full check below says why.
      if (this.now() < hit.expiresAt.getTime() && this.ring.verificationKeys().has(hit.kid)) {
        if (this.isRevoked(hit.id)) throw new UserTokenError('revoked', `user token ${hit.id} was revoked`);
        this.verified.set(token, hit);
        return hit;
      }
    }
    const user = await this.verifyFully(token);
    if (token && this.cacheSize > 0) {
      this.verified.set(token, user);
      if (this.verified.size > this.cacheSize) this.verified.delete(this.verified.keys().next().value!);
    }
    return user;
  }

  private async verifyFully(token: string | null | undefined): Promise<VerifiedUserToken> {
    if (token && Buffer.byteLength(token) > MAX_USER_TOKEN_BYTES) {
      throw new UserTokenError('oversized', `user token is oversized: ${Buffer.byteLength(token)} bytes, at most ${MAX_USER_TOKEN_BYTES} are read`);
    }
    const { payload, kid } = await verifySignedJwt(token, {
      noun: 'user token', keys: this.ring.verificationKeys(), holder: 'this control plane', now: this.now(),
    }, (reason, message, cause) => {
      // jose reports a future `nbf` as a failed claim check; it has a name of its own here.
      if (cause instanceof errors.JWTClaimValidationFailed && cause.claim === 'nbf') {
        const nbf = (cause.payload as { nbf?: unknown }).nbf;
        return new UserTokenError('not-yet-valid', `user token is not valid before ${typeof nbf === 'number' ? isoSeconds(nbf) : 'its nbf'}`, { cause });
      }
      return new UserTokenError(reason, message, cause !== undefined ? { cause } : undefined);
    });
    const claims = Claims.safeParse(payload);
    if (!claims.success) {
      const i = claims.error.issues[0]!;
      throw new UserTokenError('malformed', `user token is malformed: claim ${i.path.join('.') || '(payload)'}: ${i.message}`);
    }
    const c = claims.data;
    if (c.iss !== USER_TOKEN_ISSUER) throw new UserTokenError('wrong-issuer', `user token has issuer ${JSON.stringify(c.iss.slice(0, 64))}, not "${USER_TOKEN_ISSUER}"`);
    const audiences = c.aud === undefined ? [] : Array.isArray(c.aud) ? c.aud : [c.aud];
    if (!audiences.includes(USER_TOKEN_AUDIENCE)) {
      throw new UserTokenError('wrong-audience', `user token is not for this API: its audience is ${audiences.length === 0 ? 'missing' : JSON.stringify(audiences.join(',').slice(0, 64))}, not "${USER_TOKEN_AUDIENCE}"`);
    }
    if (this.isRevoked(c.jti)) throw new UserTokenError('revoked', `user token ${c.jti} was revoked`);
    return { name: c.sub, groups: c.groups, id: c.jti, kid, expiresAt: new Date(c.exp * 1000) };
  }
}
