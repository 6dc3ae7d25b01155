// User tokens: issue and verify, and every token an attacker could bring, each refused with its reason.
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { decodeJwt, type JWTPayload, SignJWT } from 'jose';
import { BadRequestError } from '../errors/api-error.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { MemoryStore } from '../store/memory-store.js';
import { loadOrCreateSigningKey } from './signing-key.js';
import {
  MAX_USER_TOKEN_BYTES, USER_TOKEN_AUDIENCE, USER_TOKEN_ISSUER, USER_TOKEN_SIGNING_KEY, type UserTokenFailure, UserTokenError, UserTokens,
} from './user-token.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-12-01T10:00:00Z');

async function setup() {
  let now = T0;
  const store = new MemoryStore(new InProcessEventBus());
  const revoked = new Set<string>();
  const tokens = await UserTokens.open(store, { now: () => now, isRevoked: (id) => revoked.has(id) });
  const key = await loadOrCreateSigningKey(store, { secretName: USER_TOKEN_SIGNING_KEY });
  /** Signed with the real key, claims of our choosing: reaches the checks after the signature. */
  const signRaw = (claims: JWTPayload, header: Record<string, unknown> = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: key.kid, ...header }).sign(key.privateKey);
  const good = (over: JWTPayload = {}) => {
    const iat = Math.floor(now / 1000);
    return signRaw({ iss: USER_TOKEN_ISSUER, aud: USER_TOKEN_AUDIENCE, sub: 'alice', groups: ['readers'], jti: 'id-1', iat, exp: iat + 3600, ...over });
  };
  return { tokens, store, revoked, signRaw, good, kid: key.kid, set: (t: number) => void (now = t) };
}

async function refused(p: Promise<unknown>, reason: UserTokenFailure, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof UserTokenError, `a UserTokenError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    assert.match(err.message, message);
    return true;
  });
}

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('user tokens', () => {
  test('an issued token carries name, groups, issuer, audience and id, and verifies', async () => {
    const { tokens } = await setup();
    const { token, id } = await tokens.issue({ name: 'alice', groups: ['readers', 'team-a', 'readers'], validForMs: 24 * HOUR });
    const claims = decodeJwt(token);
    assert.equal(claims.sub, 'alice');
    assert.deepEqual(claims.groups, ['readers', 'team-a']);
    assert.equal(claims.iss, USER_TOKEN_ISSUER);
    assert.equal(claims.aud, USER_TOKEN_AUDIENCE);
    assert.equal(claims.jti, id);
    assert.equal(claims.exp! - claims.iat!, 24 * 3600);
    const user = await tokens.verify(token);
    assert.deepEqual({ name: user.name, groups: user.groups, id: user.id }, { name: 'alice', groups: ['readers', 'team-a'], id });
  });

  test('a bad request names each field', async () => {
    const { tokens } = await setup();
    await assert.rejects(tokens.issue({ name: 'has space', groups: ['a,b'], validForMs: 0 }), (err: unknown) => {
      assert.ok(err instanceof BadRequestError);
      assert.deepEqual(err.causes.map((c) => c.field), ['name', 'groups', 'validFor']);
      return true;
    });
  });

  test('missing, malformed and oversized tokens are refused before any signature check', async () => {
    const { tokens } = await setup();
    await refused(tokens.verify(undefined), 'missing', /none was presented/);
    await refused(tokens.verify('abc'), 'malformed', /not a JWT/);
    await refused(tokens.verify('!!.@@.##'), 'malformed', /header is not base64url-encoded JSON/);
    await refused(tokens.verify(`${'a'.repeat(MAX_USER_TOKEN_BYTES)}.b.c`), 'oversized', new RegExp(`at most ${MAX_USER_TOKEN_BYTES}`));
  });

  test('alg none and HS256 signed with the public key are refused by their algorithm', async () => {
    const { tokens, good, store } = await setup();
    const payload = decodeJwt(await good());
    await refused(tokens.verify(`${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload)}.`), 'malformed', /signed with "none", not ES256/);
    // The classic confusion attack: the public key used as an HMAC secret.
    const key = await loadOrCreateSigningKey(store, { secretName: USER_TOKEN_SIGNING_KEY });
    const secret = JSON.stringify(key.publicJwk);
    const head = `${b64url({ alg: 'HS256', typ: 'JWT', kid: key.kid })}.${b64url(payload)}`;
    const forged = `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
    await refused(tokens.verify(forged), 'malformed', /signed with "HS256", not ES256/);
  });

  test('a token signed by another key, or altered, is refused on its signature', async () => {
    const { tokens, good, kid } = await setup();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const other = await new SignJWT(decodeJwt(await good())).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey);
    await refused(tokens.verify(other), 'bad-signature', /does not verify/);
    const [h, , s] = (await good()).split('.');
    await refused(tokens.verify(`${h}.${b64url({ ...decodeJwt(await good()), groups: ['mesh-system:admin'] })}.${s}`), 'bad-signature', /does not verify/);
    await refused(tokens.verify(await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'someone-else' }).sign(privateKey)), 'bad-signature', /signed by key "someone-else", which this control plane does not have/);
  });

  test('expired and not-yet-valid tokens say when', async () => {
    const { tokens, good, set } = await setup();
    const token = await good();
    set(T0 + 2 * HOUR);
    await refused(tokens.verify(token), 'expired', /expired at 2026-12-01T11:00:00Z/);
    set(T0);
    await refused(tokens.verify(await good({ nbf: Math.floor(T0 / 1000) + 600 })), 'not-yet-valid', /not valid before 2026-12-01T10:10:00Z/);
  });

  test('wrong issuer, wrong or missing audience, missing subject', async () => {
    const { tokens, good } = await setup();
    await refused(tokens.verify(await good({ iss: 'meshfed-global' })), 'wrong-issuer', /issuer "meshfed-global", not "meshfed"/);
    await refused(tokens.verify(await good({ aud: 'kuma' })), 'wrong-audience', /audience is "kuma", not "meshfed-api"/);
    await refused(tokens.verify(await good({ aud: undefined })), 'wrong-audience', /audience is missing/);
    await refused(tokens.verify(await good({ sub: undefined })), 'malformed', /claim sub/);
  });

  test('a revoked token is refused by its id, from then on', async () => {
    const { tokens, revoked } = await setup();
    const { token, id } = await tokens.issue({ name: 'bob', groups: [], validForMs: HOUR });
    await tokens.verify(token);
    revoked.add(id);
    await refused(tokens.verify(token), 'revoked', new RegExp(`user token ${id} was revoked`));
  });

  test('rotation: a new serial signs, the old one verifies until it is removed', async () => {
    const { tokens } = await setup();
    const old = (await tokens.issue({ name: 'alice', groups: [], validForMs: HOUR })).token;
    const added = await tokens.ring.add();
    assert.equal(added.serial, 2);
    const fresh = (await tokens.issue({ name: 'alice', groups: [], validForMs: HOUR })).token;
    assert.notEqual(JSON.parse(Buffer.from(fresh.split('.')[0]!, 'base64url').toString()).kid, JSON.parse(Buffer.from(old.split('.')[0]!, 'base64url').toString()).kid);
    await tokens.verify(old);
    await tokens.ring.remove(1);
    await refused(tokens.verify(old), 'bad-signature', /which this control plane does not have \(was it removed or issued elsewhere\?\)/);
    assert.equal((await tokens.verify(fresh)).name, 'alice');
    tokens.close();
  });

  test('a cached token is still refused once revoked, expired or its key removed', async () => {
    const { tokens, revoked, set } = await setup();
    const { token, id } = await tokens.issue({ name: 'carol', groups: [], validForMs: HOUR });
    await tokens.verify(token);
    await tokens.verify(token); // from the cache
    revoked.add(id);
    await refused(tokens.verify(token), 'revoked', /was revoked/);
    revoked.delete(id);
    set(T0 + 2 * HOUR);
    await refused(tokens.verify(token), 'expired', /expired at/);
    set(T0);
    await tokens.verify(token);
    await tokens.ring.add();
    await tokens.ring.remove(1);
    await refused(tokens.verify(token), 'bad-signature', /which this control plane does not have/);
    tokens.close();
  });
});
