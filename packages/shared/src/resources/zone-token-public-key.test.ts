// ZoneTokenPublicKey: what global's key looks like on the wire, and where the registry sends it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ZoneTokens } from '../auth/zone-token.js';
import { ValidationError } from '../errors/api-error.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { MemoryStore } from '../store/memory-store.js';
import { writeRefusal } from './ownership.js';
import { findByCliName, findByPlural, kindsOwnedBy, kindsWithFlow } from './registry.js';
import { parseResource } from './validate.js';
import { ZONE_TOKEN_PUBLIC_KEY_NAME } from './zone-token-public-key.js';

const jwkOfGlobal = async () => (await ZoneTokens.open(new MemoryStore(new InProcessEventBus()))).publicJwk();

function causes(body: unknown): string[] {
  try {
    parseResource(body);
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err.causes.map((c) => `${c.field}: ${c.message}`);
  }
  assert.fail('expected a ValidationError');
}

describe('ZoneTokenPublicKey', () => {
  test("takes global's public JWK as ZoneTokens makes it", async () => {
    const jwk = await jwkOfGlobal();
    const r = parseResource({ type: 'ZoneTokenPublicKey', name: ZONE_TOKEN_PUBLIC_KEY_NAME, jwk });
    assert.deepEqual(r.spec, { jwk });
  });

  test('refuses anything else, naming the field', async () => {
    const jwk = await jwkOfGlobal();
    const base = { type: 'ZoneTokenPublicKey', name: ZONE_TOKEN_PUBLIC_KEY_NAME };
    assert.deepEqual(causes({ ...base, jwk: { ...jwk, d: 'secret' } }), ['jwk.d: unknown field "d"']);
    assert.deepEqual(causes({ ...base, jwk: { ...jwk, x: 'a+b/c=' } }), [
      "jwk.x: x must be base64url (A-Z, a-z, 0-9, '-', '_', no padding)",
      'jwk.x: x must be 43 base64url characters (a 32-byte P-256 coordinate)',
    ]);
    assert.deepEqual(causes({ ...base, jwk: { ...jwk, kid: '' } }), ['jwk.kid: must not be empty', "jwk.kid: kid must be base64url (A-Z, a-z, 0-9, '-', '_', no padding)"]);
    assert.deepEqual(causes({ ...base, jwk: { ...jwk, crv: 'P-384' } }).map((c) => c.split(':')[0]), ['jwk.crv']);
    assert.deepEqual(causes({ ...base, jwk: { ...jwk, alg: 'RS256', use: 'enc' } }).map((c) => c.split(':')[0]), ['jwk.alg', 'jwk.use']);
    assert.deepEqual(causes({ ...base }), ['jwk: is required']);
    assert.deepEqual(causes({ ...base, jwk, extra: 1 }), ['extra: unknown field "extra"']);
  });

  test('goes from global to zones only, is written by no one but the control plane, and is served', () => {
    const d = findByPlural('zone-token-public-keys');
    assert.equal(d?.kind, 'ZoneTokenPublicKey');
    assert.equal(findByCliName('zone-token-public-key')?.kind, 'ZoneTokenPublicKey');
    assert.ok(kindsWithFlow('global-to-zone').includes('ZoneTokenPublicKey'));
    assert.ok(!kindsWithFlow('zone-to-global').includes('ZoneTokenPublicKey'));
    assert.ok(kindsOwnedBy('system').includes('ZoneTokenPublicKey'));
    assert.equal(d.scope, 'global');
    assert.notEqual((d as { internal?: boolean }).internal, true, 'public: the API serves it');
    for (const mode of ['global', 'zone', 'standalone'] as const) assert.match(writeRefusal(mode, d) ?? '', /maintained by the control plane/);
  });
});
