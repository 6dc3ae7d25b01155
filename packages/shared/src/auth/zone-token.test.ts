// Zone tokens: issue and verify, and every way a token is refused, with the message that says why.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader, type JWTPayload, SignJWT } from 'jose';
import { BadRequestError } from '../errors/api-error.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { MemoryStore } from '../store/memory-store.js';
import { createLogger } from '../telemetry/logger.js';
import { SigningKeyError, type ZoneTokenFailure, ZoneTokenError } from './errors.js';
import { loadOrCreateSigningKey, ZONE_TOKEN_SIGNING_KEY } from './signing-key.js';
import { MAX_ZONE_TOKEN_VALIDITY_MS, ZONE_TOKEN_ISSUER, ZoneTokens, ZoneTokenVerifier } from './zone-token.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-20T10:00:00Z');

function clock(start = T0) {
  let now = start;
  return { now: () => now, set: (t: number) => void (now = t) };
}

const newStore = () => new MemoryStore(new InProcessEventBus());

/** Asserts that `p` rejects with a ZoneTokenError of `reason`, whose message matches `message` exactly or as a pattern. */
async function refused(p: Promise<unknown>, reason: ZoneTokenFailure, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ZoneTokenError, `a ZoneTokenError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

/** A token signed with the real key but with claims of our choosing, to reach the checks after the signature. */
async function signRaw(store: MemoryStore, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const key = await loadOrCreateSigningKey(store);
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: key.kid, ...header }).sign(key.privateKey);
}

describe('zone tokens', () => {
  test('issue and verify: ES256, kid in the header, the claims Kuma carries', async () => {
    const c = clock();
    const tokens = await ZoneTokens.open(newStore(), { now: c.now });
    const token = await tokens.issue({ zone: 'zone-1', scopes: ['zone', 'ingress', 'zone'], validForMs: 720 * HOUR });

    const header = decodeProtectedHeader(token);
    assert.equal(header.alg, 'ES256');
    assert.equal(header.kid, tokens.kid);
    const claims = decodeJwt(token);
    assert.equal(claims.iss, ZONE_TOKEN_ISSUER);
    assert.equal(claims.zone, 'zone-1');
    assert.deepEqual(claims.scope, ['zone', 'ingress'], 'duplicates dropped, order kept');
    assert.equal(claims.iat, T0 / 1000);
    assert.equal(claims.exp, T0 / 1000 + 720 * 3600);
    assert.match(String(claims.jti), /^[0-9a-f-]{36}$/);

    const v = await tokens.verify(token, { zone: 'zone-1', scope: 'zone' });
    assert.deepEqual(v, {
      zone: 'zone-1', scopes: ['zone', 'ingress'], id: claims.jti, kid: tokens.kid,
      issuedAt: new Date(T0), expiresAt: new Date(T0 + 720 * HOUR),
    });
    assert.equal((await tokens.verify(token, { scope: 'ingress' })).zone, 'zone-1', 'no declared zone: any zone');

    const other = await tokens.issue({ zone: 'zone-1', scopes: ['zone'], validForMs: HOUR });
    assert.notEqual(decodeJwt(other).jti, claims.jti, 'every token has its own id');
  });

  test('a verifier made from the public JWK alone accepts what global issued', async () => {
    const c = clock();
    const tokens = await ZoneTokens.open(newStore(), { now: c.now });
    const jwk = tokens.publicJwk();
    assert.equal(jwk.d, undefined, 'the public JWK has no private part');
    assert.deepEqual({ kty: jwk.kty, crv: jwk.crv, alg: jwk.alg, kid: jwk.kid }, { kty: 'EC', crv: 'P-256', alg: 'ES256', kid: tokens.kid });

    // As a zone would get it: serialized and parsed again.
    const verifier = await ZoneTokenVerifier.fromPublicJwk(JSON.parse(JSON.stringify(jwk)), { now: c.now });
    const token = await tokens.issue({ zone: 'zone-2', scopes: ['egress'], validForMs: HOUR });
    assert.equal((await verifier.verify(token, { zone: 'zone-2', scope: 'egress' })).zone, 'zone-2');
    await refused(verifier.verify(token, { zone: 'zone-2', scope: 'ingress' }), 'wrong-scope', 'zone token has scopes [egress], a zone ingress needs "ingress"');

    await assert.rejects(ZoneTokenVerifier.fromPublicJwk({ kty: 'RSA', n: 'x', e: 'AQAB' }), /EC P-256 public JWK/);
  });

  test('a missing token', async () => {
    const tokens = await ZoneTokens.open(newStore());
    for (const t of [undefined, null, '', '  \n']) {
      await refused(tokens.verify(t, { zone: 'zone-1', scope: 'zone' }), 'missing', 'zone token missing: none was presented');
    }
  });

  test('malformed tokens say what is wrong with them', async () => {
    const store = newStore();
    const tokens = await ZoneTokens.open(store);
    const expect = { zone: 'zone-1', scope: 'zone' } as const;
    await refused(tokens.verify('not-a-token', expect), 'malformed', 'zone token is malformed: not a JWT (expected three base64url parts separated by dots)');
    await refused(tokens.verify('a.b.c', expect), 'malformed', 'zone token is malformed: its header is not base64url-encoded JSON');

    const hs256 = await new SignJWT({ zone: 'zone-1', scope: ['zone'] })
      .setProtectedHeader({ alg: 'HS256', kid: tokens.kid })
      .sign(new Uint8Array(32));
    await refused(tokens.verify(hs256, expect), 'malformed', 'zone token is malformed: signed with "HS256", not ES256');

    const key = await loadOrCreateSigningKey(store);
    const noKid = await new SignJWT({ zone: 'zone-1', scope: ['zone'] }).setProtectedHeader({ alg: 'ES256' }).sign(key.privateKey);
    await refused(tokens.verify(noKid, expect), 'malformed', 'zone token is malformed: its header has no key id (kid)');

    const now = Math.floor(Date.now() / 1000);
    const good = { iss: ZONE_TOKEN_ISSUER, zone: 'zone-1', scope: ['zone'], jti: 'j', iat: now, exp: now + 3600 };
    await refused(tokens.verify(await signRaw(store, { ...good, iss: 'someone-else' }), expect), 'malformed',
      'zone token is malformed: claim iss: issuer "someone-else" is not "meshfed-global"');
    const { zone: _zone, ...noZone } = good;
    await refused(tokens.verify(await signRaw(store, noZone), expect), 'malformed', /^zone token is malformed: claim zone: /);
    await refused(tokens.verify(await signRaw(store, { ...good, scope: ['admin'] }), expect), 'malformed',
      'zone token is malformed: claim scope.0: must be one of zone, ingress, egress');
    await refused(tokens.verify(await signRaw(store, { ...good, scope: [] }), expect), 'malformed',
      'zone token is malformed: claim scope: must name at least one scope');
    const { exp: _exp, ...noExp } = good;
    await refused(tokens.verify(await signRaw(store, noExp), expect), 'malformed', /^zone token is malformed: claim exp: /);
  });

  test('a token of another global, or altered, has a bad signature', async () => {
    const tokens = await ZoneTokens.open(newStore());
    const stranger = await ZoneTokens.open(newStore());
    const foreign = await stranger.issue({ zone: 'zone-1', scopes: ['zone'], validForMs: HOUR });
    await refused(tokens.verify(foreign, { zone: 'zone-1', scope: 'zone' }), 'bad-signature',
      `zone token was signed by key "${stranger.kid}", which this control plane does not have (was it removed or issued elsewhere?)`);

    const token = await tokens.issue({ zone: 'zone-1', scopes: ['ingress'], validForMs: HOUR });
    const [h, , s] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...decodeJwt(token), scope: ['zone'] })).toString('base64url');
    await refused(tokens.verify(`${h}.${forged}.${s}`, { zone: 'zone-1', scope: 'zone' }), 'bad-signature',
      `zone token signature does not verify with this control plane's key "${tokens.kid}"`);
  });

  test('an expired token says when it expired', async () => {
    const c = clock();
    const tokens = await ZoneTokens.open(newStore(), { now: c.now });
    const token = await tokens.issue({ zone: 'zone-1', scopes: ['zone'], validForMs: 24 * HOUR });
    c.set(T0 + 24 * HOUR - 1000);
    assert.equal((await tokens.verify(token, { zone: 'zone-1', scope: 'zone' })).zone, 'zone-1', 'valid until its last second');
    c.set(T0 + 24 * HOUR + 1000);
    await refused(tokens.verify(token, { zone: 'zone-1', scope: 'zone' }), 'expired', 'zone token expired at 2026-11-21T10:00:00Z');
  });

  test('a token without the needed scope', async () => {
    const tokens = await ZoneTokens.open(newStore());
    const ingress = await tokens.issue({ zone: 'zone-1', scopes: ['ingress'], validForMs: HOUR });
    await refused(tokens.verify(ingress, { zone: 'zone-1', scope: 'zone' }), 'wrong-scope', 'zone token has scopes [ingress], KDS needs "zone"');
    const both = await tokens.issue({ zone: 'zone-1', scopes: ['ingress', 'egress'], validForMs: HOUR });
    await refused(tokens.verify(both, { zone: 'zone-1', scope: 'zone' }), 'wrong-scope', 'zone token has scopes [ingress, egress], KDS needs "zone"');
  });

  test('a token for another zone', async () => {
    const tokens = await ZoneTokens.open(newStore());
    const token = await tokens.issue({ zone: 'zone-2', scopes: ['zone'], validForMs: HOUR });
    await refused(tokens.verify(token, { zone: 'zone-1', scope: 'zone' }), 'zone-mismatch', 'zone token is for zone "zone-2", but this zone declares "zone-1"');
  });

  test('issue refuses what it cannot sign, with the field of each problem', async () => {
    const tokens = await ZoneTokens.open(newStore());
    const causesOf = async (p: Promise<unknown>) => {
      const err = await p.then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof BadRequestError, `a BadRequestError, got ${String(err)}`);
      return err.causes.map((c) => `${c.field}: ${c.message}`);
    };
    assert.deepEqual(await causesOf(tokens.issue({ zone: 'Zone 1', scopes: [], validForMs: 0 })), [
      "zone: invalid characters: use lowercase letters, digits, '-', '_' and '.'",
      'scope: must name at least one scope',
      'validFor: must be positive',
    ]);
    assert.deepEqual(await causesOf(tokens.issue({ zone: 'z', scopes: ['zone'], validForMs: MAX_ZONE_TOKEN_VALIDITY_MS + 1 })), ['validFor: must be at most 10y']);
    const tenYears = await tokens.issue({ zone: 'z', scopes: ['zone'], validForMs: MAX_ZONE_TOKEN_VALIDITY_MS });
    const claims = decodeJwt(tenYears);
    assert.equal(Number(claims.exp) - Number(claims.iat), 10 * 365 * 86400);
    const subSecond = decodeJwt(await tokens.issue({ zone: 'z', scopes: ['zone'], validForMs: 1 }));
    assert.equal(Number(subSecond.exp) - Number(subSecond.iat), 1, 'rounded up to a whole second');
  });
});

describe('the signing key in the store', () => {
  test('is created once: a second open, and many at once, find the same key', async () => {
    const store = newStore();
    const first = await ZoneTokens.open(store);
    const again = await ZoneTokens.open(store);
    assert.equal(again.kid, first.kid);
    const token = await first.issue({ zone: 'zone-1', scopes: ['zone'], validForMs: HOUR });
    assert.equal((await again.verify(token, { zone: 'zone-1', scope: 'zone' })).zone, 'zone-1');

    const racing = newStore();
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateSigningKey(racing)));
    assert.equal(new Set(keys.map((k) => k.kid)).size, 1, 'every racer ends with the winner key');
    assert.equal((await racing.list('GlobalSecret')).total, 1);
  });

  test('is kept as a GlobalSecret, and its private part never reaches the log', async () => {
    let logged = '';
    const log = createLogger({ component: 'test', level: 'trace', destination: new Writable({ write: (c, _e, cb) => ((logged += String(c)), cb()) }) });
    const store = newStore();
    const tokens = await ZoneTokens.open(store, { log });
    await tokens.issue({ zone: 'zone-1', scopes: ['zone'], validForMs: HOUR });
    await ZoneTokens.open(store, { log });

    const secret = await store.get({ type: 'GlobalSecret', name: ZONE_TOKEN_SIGNING_KEY });
    assert.ok(secret, 'stored');
    const stored = JSON.parse(Buffer.from(String(secret.spec.data), 'base64').toString('utf8')) as { kid: string; alg: string; privateJwk: Record<string, string> };
    assert.equal(stored.kid, tokens.kid);
    assert.equal(stored.alg, 'ES256');
    assert.ok(stored.privateJwk.d && stored.privateJwk.d.length > 20);
    assert.match(logged, /created the zone token signing key/);
    assert.match(logged, /issued a zone token/);
    assert.ok(!logged.includes(stored.privateJwk.d), 'the private key is not in the log');
    assert.ok(!logged.includes(String(secret.spec.data)), 'the secret is not in the log');
  });

  test('a stored key that cannot be used is an error, and is not replaced', async () => {
    const store = newStore();
    const put = async (data: string) => {
      const { written } = await store.commit([{ op: 'put', resource: { type: 'GlobalSecret', name: ZONE_TOKEN_SIGNING_KEY, labels: {}, spec: { data } } }]);
      return written[0]!.version;
    };
    const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');
    const secretD = 'c2VjcmV0LXByaXZhdGUtc2NhbGFyLXRoYXQtbXVzdC1ub3QtbGVhaw';

    let version = await put(b64('not json'));
    await assert.rejects(loadOrCreateSigningKey(store), (e: unknown) => e instanceof SigningKeyError && /does not hold JSON in base64/.test(e.message));

    version = await put(b64({ kid: 'k', alg: 'RS256', privateJwk: { kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: secretD } }));
    await assert.rejects(loadOrCreateSigningKey(store), (e: unknown) =>
      e instanceof SigningKeyError && /does not hold an ES256 signing key \(alg: /.test(e.message) && !e.message.includes(secretD));

    version = await put(b64({ kid: 'k', alg: 'ES256', privateJwk: { kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: secretD } }));
    await assert.rejects(ZoneTokens.open(store), (e: unknown) =>
      e instanceof SigningKeyError && /holds an ES256 key that cannot be imported/.test(e.message) && !e.message.includes(secretD));
    assert.equal((await store.get({ type: 'GlobalSecret', name: ZONE_TOKEN_SIGNING_KEY }))?.version, version, 'left as it was');
  });
});
