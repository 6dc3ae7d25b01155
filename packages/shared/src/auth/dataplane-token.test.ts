// Dataplane tokens: issue and verify, every way a token is refused with the message that says why,
// and the zone's own signing key beside global's.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader, type JWTPayload, SignJWT } from 'jose';
import { BadRequestError } from '../errors/api-error.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { MemoryStore } from '../store/memory-store.js';
import { createLogger } from '../telemetry/logger.js';
import {
  DATAPLANE_TOKEN_ISSUER, DATAPLANE_TOKEN_SIGNING_KEY, DataplaneTokens, MAX_DATAPLANE_TOKEN_VALIDITY_MS,
} from './dataplane-token.js';
import { type DataplaneTokenFailure, DataplaneTokenError } from './errors.js';
import { loadOrCreateSigningKey, ZONE_TOKEN_SIGNING_KEY } from './signing-key.js';
import { ZoneTokens } from './zone-token.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-20T10:00:00Z');
const WEB = { mesh: 'default', name: 'web' } as const;

function clock(start = T0) {
  let now = start;
  return { now: () => now, set: (t: number) => void (now = t) };
}

const newStore = () => new MemoryStore(new InProcessEventBus());
const keyOf = (store: MemoryStore) => loadOrCreateSigningKey(store, { secretName: DATAPLANE_TOKEN_SIGNING_KEY });

async function refused(p: Promise<unknown>, reason: DataplaneTokenFailure, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof DataplaneTokenError, `a DataplaneTokenError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

/** Signed with the zone's real key but with claims of our choosing, to reach the checks after the signature. */
async function signRaw(store: MemoryStore, claims: JWTPayload): Promise<string> {
  const key = await keyOf(store);
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: key.kid }).sign(key.privateKey);
}

describe('dataplane tokens', () => {
  test('issue and verify: ES256, kid in the header, mesh, name and tags as claims', async () => {
    const c = clock();
    const tokens = await DataplaneTokens.open(newStore(), { now: c.now });
    const token = await tokens.issue({ ...WEB, tags: { 'kuma.io/service': 'web', version: 'v2' }, validForMs: 24 * HOUR });

    const header = decodeProtectedHeader(token);
    assert.equal(header.alg, 'ES256');
    assert.equal(header.kid, tokens.kid);
    const claims = decodeJwt(token);
    assert.equal(claims.iss, DATAPLANE_TOKEN_ISSUER);
    assert.equal(claims.mesh, 'default');
    assert.equal(claims.name, 'web');
    assert.deepEqual(claims.tags, { 'kuma.io/service': 'web', version: 'v2' });
    assert.equal(claims.iat, T0 / 1000);
    assert.equal(claims.exp, T0 / 1000 + 24 * 3600);
    assert.match(String(claims.jti), /^[0-9a-f-]{36}$/);

    assert.deepEqual(await tokens.verify(token, WEB), {
      mesh: 'default', name: 'web', tags: { 'kuma.io/service': 'web', version: 'v2' }, id: claims.jti, kid: tokens.kid,
      issuedAt: new Date(T0), expiresAt: new Date(T0 + 24 * HOUR),
    });
  });

  test('without tags the token has no tags claim, and verifies with empty tags', async () => {
    const tokens = await DataplaneTokens.open(newStore());
    for (const tags of [undefined, {}]) {
      const token = await tokens.issue({ ...WEB, ...(tags ? { tags } : {}), validForMs: HOUR });
      assert.equal('tags' in decodeJwt(token), false);
      assert.deepEqual((await tokens.verify(token, WEB)).tags, {});
    }
  });

  test('a token for another dataplane says whose it is and who the proxy says it is', async () => {
    const tokens = await DataplaneTokens.open(newStore());
    const token = await tokens.issue({ ...WEB, validForMs: HOUR });
    await refused(tokens.verify(token, { mesh: 'default', name: 'backend' }), 'name-mismatch',
      'dataplane token is for "default.web", but the proxy says it is "default.backend"');
    await refused(tokens.verify(token, { mesh: 'other', name: 'web' }), 'mesh-mismatch',
      'dataplane token is for mesh "default" ("default.web"), but the proxy says it is "other.web" in mesh "other"');
  });

  test('a missing token', async () => {
    const tokens = await DataplaneTokens.open(newStore());
    for (const t of [undefined, null, '', ' \n']) await refused(tokens.verify(t, WEB), 'missing', 'dataplane token missing: none was presented');
  });

  test('malformed tokens say what is wrong with them', async () => {
    const store = newStore();
    const tokens = await DataplaneTokens.open(store);
    await refused(tokens.verify('nope', WEB), 'malformed', 'dataplane token is malformed: not a JWT (expected three base64url parts separated by dots)');
    await refused(tokens.verify('a.b.c', WEB), 'malformed', 'dataplane token is malformed: its header is not base64url-encoded JSON');
    const hs256 = await new SignJWT({ mesh: 'default', name: 'web' }).setProtectedHeader({ alg: 'HS256', kid: tokens.kid }).sign(new Uint8Array(32));
    await refused(tokens.verify(hs256, WEB), 'malformed', 'dataplane token is malformed: signed with "HS256", not ES256');
    const key = await keyOf(store);
    const noKid = await new SignJWT({ mesh: 'default', name: 'web' }).setProtectedHeader({ alg: 'ES256' }).sign(key.privateKey);
    await refused(tokens.verify(noKid, WEB), 'malformed', 'dataplane token is malformed: its header has no key id (kid)');

    const now = Math.floor(Date.now() / 1000);
    const good = { iss: DATAPLANE_TOKEN_ISSUER, mesh: 'default', name: 'web', jti: 'j', iat: now, exp: now + 3600 };
    assert.equal((await tokens.verify(await signRaw(store, good), WEB)).name, 'web', 'the raw signer makes tokens that pass');
    await refused(tokens.verify(await signRaw(store, { ...good, iss: 'meshfed-global' }), WEB), 'malformed',
      'dataplane token is malformed: claim iss: issuer "meshfed-global" is not "meshfed-zone"');
    const { mesh: _mesh, ...noMesh } = good;
    await refused(tokens.verify(await signRaw(store, noMesh), WEB), 'malformed', /^dataplane token is malformed: claim mesh: /);
    await refused(tokens.verify(await signRaw(store, { ...good, tags: { 'kuma.io/service': '' } }), WEB), 'malformed',
      'dataplane token is malformed: claim tags.kuma.io/service: tag value must not be empty');
    const { jti: _jti, ...noJti } = good;
    await refused(tokens.verify(await signRaw(store, noJti), WEB), 'malformed', /^dataplane token is malformed: claim jti: /);
  });

  test('a token of another zone, or altered, has a bad signature', async () => {
    const tokens = await DataplaneTokens.open(newStore());
    const stranger = await DataplaneTokens.open(newStore());
    const foreign = await stranger.issue({ ...WEB, validForMs: HOUR });
    await refused(tokens.verify(foreign, WEB), 'bad-signature',
      `dataplane token was signed by key "${stranger.kid}", which this zone control plane does not have (was it removed or issued elsewhere?)`);

    const token = await tokens.issue({ mesh: 'default', name: 'backend', validForMs: HOUR });
    const [h, , s] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...decodeJwt(token), name: 'web' })).toString('base64url');
    await refused(tokens.verify(`${h}.${forged}.${s}`, WEB), 'bad-signature',
      `dataplane token signature does not verify with this zone control plane's key "${tokens.kid}"`);
  });

  test('a zone token is not a dataplane token, even from the same store', async () => {
    const store = newStore();
    const zoneTokens = await ZoneTokens.open(store);
    const tokens = await DataplaneTokens.open(store);
    assert.notEqual(tokens.kid, zoneTokens.kid, 'two keys');
    const zoneToken = await zoneTokens.issue({ zone: 'zone-1', scopes: ['ingress'], validForMs: HOUR });
    await refused(tokens.verify(zoneToken, WEB), 'bad-signature', /^dataplane token was signed by key /);
  });

  test('an expired token says when it expired', async () => {
    const c = clock();
    const tokens = await DataplaneTokens.open(newStore(), { now: c.now });
    const token = await tokens.issue({ ...WEB, validForMs: 24 * HOUR });
    c.set(T0 + 24 * HOUR - 1000);
    assert.equal((await tokens.verify(token, WEB)).name, 'web', 'valid until its last second');
    c.set(T0 + 24 * HOUR + 1000);
    await refused(tokens.verify(token, WEB), 'expired', 'dataplane token expired at 2026-11-21T10:00:00Z');
  });

  test('issue refuses what it cannot sign, with the field of each problem', async () => {
    const tokens = await DataplaneTokens.open(newStore());
    const causesOf = async (p: Promise<unknown>) => {
      const err = await p.then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof BadRequestError, `a BadRequestError, got ${String(err)}`);
      assert.equal(err.details, 'the dataplane token request is invalid');
      return err.causes.map((c) => `${c.field}: ${c.message}`);
    };
    assert.deepEqual(await causesOf(tokens.issue({ mesh: 'my.mesh', name: 'Web', tags: { 'bad key': 'v', ok: '' }, validForMs: 0 })), [
      "mesh: invalid characters: use lowercase letters, digits, '-' and '_'",
      "name: invalid characters: use lowercase letters, digits, '-', '_' and '.'",
      "tags.bad key: tag keys use letters, digits and '.', '_', ':', '/', '-'",
      'tags.ok: tag value must not be empty',
      'validFor: must be positive',
    ]);
    assert.deepEqual(await causesOf(tokens.issue({ ...WEB, validForMs: MAX_DATAPLANE_TOKEN_VALIDITY_MS + 1 })), ['validFor: must be at most 10y']);
    assert.deepEqual(await causesOf(tokens.issue({ ...WEB, validForMs: Number.NaN })), ['validFor: must be positive']);
    const tenYears = decodeJwt(await tokens.issue({ ...WEB, validForMs: MAX_DATAPLANE_TOKEN_VALIDITY_MS }));
    assert.equal(Number(tenYears.exp) - Number(tenYears.iat), 10 * 365 * 86400);
    const subSecond = decodeJwt(await tokens.issue({ ...WEB, validForMs: 1 }));
    assert.equal(Number(subSecond.exp) - Number(subSecond.iat), 1, 'rounded up to a whole second');
  });
});

describe("the zone's dataplane-token signing key", () => {
  test('is its own GlobalSecret, created once, and its private part never reaches the log', async () => {
    let logged = '';
    const log = createLogger({ component: 'test', level: 'trace', destination: new Writable({ write: (c, _e, cb) => ((logged += String(c)), cb()) }) });
    const store = newStore();
    const [first, ...others] = await Promise.all(Array.from({ length: 6 }, () => DataplaneTokens.open(store, { log })));
    for (const o of others) assert.equal(o!.kid, first!.kid, 'every racer ends with the winner key');
    const token = await first!.issue({ ...WEB, validForMs: HOUR });
    assert.equal((await (await DataplaneTokens.open(store)).verify(token, WEB)).name, 'web', 'reopened: same key');

    const secrets = await store.list('GlobalSecret');
    assert.deepEqual(secrets.items.map((s) => s.name), [DATAPLANE_TOKEN_SIGNING_KEY], 'no zone-token key is made');
    assert.equal(await store.get({ type: 'GlobalSecret', name: ZONE_TOKEN_SIGNING_KEY }), undefined);
    const stored = JSON.parse(Buffer.from(String(secrets.items[0]!.spec.data), 'base64').toString('utf8')) as { kid: string; privateJwk: { d: string } };
    assert.equal(stored.kid, first!.kid);
    assert.match(logged, /created the dataplane token signing key/);
    assert.match(logged, /"msg":"issued a dataplane token"/);
    assert.match(logged, /"dataplane":"default.web"/);
    assert.ok(!logged.includes(stored.privateJwk.d), 'the private key is not in the log');
    assert.ok(!logged.includes(token), 'the token is not in the log');
  });
});
