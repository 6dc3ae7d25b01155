import { type CryptoKey, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import { ZONE_TOKEN_ALG } from './signing-key.js';

/** The refusals every signed token shares, whatever its claims. */
export type JwtFailure = 'missing' | 'malformed' | 'bad-signature' | 'expired';

interface JwtCheckBase {
  /** What the token is, to start every message: "dataplane token". */
  readonly noun: string;
  /** Milliseconds since the epoch. */
  readonly now: number;
}

/** One key: a token naming another is refused as "not by <keyOwner>". */
export interface SingleKeyJwtCheck extends JwtCheckBase {
  readonly key: CryptoKey;
  readonly kid: string;
  /** Whose key it is, as messages say it: "this zone control plane's key". */
  readonly keyOwner: string;
  /** Appended when the token names another key, to point at the likely mistake. */
  readonly otherKeyHint: string;
}

/** A key ring: the token's `kid` picks the key among those present (rotation by serial). */
export interface KeySetJwtCheck extends JwtCheckBase {
  /** Public keys by kid, at the time of the check. */
  readonly keys: ReadonlyMap<string, CryptoKey>;
  /** Who holds them, as messages say it: "this control plane". */
  readonly holder: string;
}

export type JwtCheck = SingleKeyJwtCheck | KeySetJwtCheck;

/** Said when a token names a key its verifier does not hold: removed keys and strangers' look the same. */
export const UNKNOWN_KEY_HINT = '(was it removed or issued elsewhere?)';

/** Builds the caller's own error class, so each kind of token keeps its error type. */
export type JwtRefusal = (reason: JwtFailure, message: string, cause?: unknown) => Error;

/** `2026-11-21T10:00:00Z`: JWT times are whole seconds, so the milliseconds say nothing. */
export function isoSeconds(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * Checks an ES256 JWT's form, key id, signature and times, and answers its payload (claims are the
 * caller's to check). Every refusal comes from `refuse` with a message that says which check failed.
 */
export async function verifySignedJwt(token: string | null | undefined, check: JwtCheck, refuse: JwtRefusal): Promise<{ payload: JWTPayload; kid: string }> {
  const { noun } = check;
  const malformed = (what: string, cause?: unknown) => refuse('malformed', `${noun} is malformed: ${what}`, cause);
  const jwt = token?.trim() ?? '';
  if (jwt === '') throw refuse('missing', `${noun} missing: none was presented`);
  if (jwt.split('.').length !== 3) throw malformed('not a JWT (expected three base64url parts separated by dots)');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jwt);
  } catch (err) {
    throw malformed('its header is not base64url-encoded JSON', err);
  }
  if (header.alg !== ZONE_TOKEN_ALG) throw malformed(`signed with ${JSON.stringify(header.alg ?? null)}, not ${ZONE_TOKEN_ALG}`);
  if (typeof header.kid !== 'string' || header.kid === '') throw malformed('its header has no key id (kid)');
  let key: CryptoKey;
  let keyName: string;
  if ('keys' in check) {
    const found = check.keys.get(header.kid);
    if (!found) throw refuse('bad-signature', `${noun} was signed by key "${header.kid}", which ${check.holder} does not have ${UNKNOWN_KEY_HINT}`);
    key = found;
    keyName = `${check.holder}'s key "${header.kid}"`;
  } else {
    if (header.kid !== check.kid) {
      throw refuse('bad-signature', `${noun} was signed by key "${header.kid}", not by ${check.keyOwner} "${check.kid}" ${check.otherKeyHint}`);
    }
    key = check.key;
    keyName = `${check.keyOwner} "${check.kid}"`;
  }
  try {
    const { payload } = await jwtVerify(jwt, key, { algorithms: [ZONE_TOKEN_ALG], currentDate: new Date(check.now) });
    return { payload, kid: header.kid };
  } catch (err) {
    // jose checks the signature before the times: an expired forgery is reported as a bad signature.
    if (err instanceof errors.JWSSignatureVerificationFailed) {
      throw refuse('bad-signature', `${noun} signature does not verify with ${keyName}`, err);
    }
    if (err instanceof errors.JWTExpired) {
      const exp = err.payload.exp;
      throw refuse('expired', typeof exp === 'number' ? `${noun} expired at ${isoSeconds(exp)}` : `${noun} expired`, err);
    }
    throw malformed(err instanceof Error ? err.message : String(err), err);
  }
}
