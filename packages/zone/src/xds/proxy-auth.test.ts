// Proxies admitted on their tokens: every way a dataplane, ingress or egress is refused, with the
// gRPC code and the sentence it is sent; and the same through a real ADS server.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { credentials, Metadata, ServerCredentials, status } from '@grpc/grpc-js';
import {
  ADS_SERVICE, AdsClient, adsCodec, createLogger, DataplaneTokens, InProcessEventBus, MemoryStore, toStruct, XDS_TYPE_URL, ZONE_TOKEN_PUBLIC_KEY_NAME,
  ZoneTokens,
} from '@meshfed/shared';
import { AdsServer } from './ads-server.js';
import type { AuthResult, ProxyIdentity } from './auth.js';
import { KEY_NOT_ARRIVED, tokenAuthenticate } from './proxy-auth.js';
import { ProxyInsights } from './proxy-insights.js';
import { SnapshotCache } from './snapshot-cache.js';
import { ZoneTokenKeyWatcher } from './zone-token-key.js';

const HOUR = 3_600_000;
const log = createLogger({ component: 'proxy-auth-test', level: 'fatal' });
const newStore = () => new MemoryStore(new InProcessEventBus());

const bearer = (...values: string[]) => {
  const md = new Metadata();
  for (const v of values) md.add('authorization', v);
  return md;
};
const WEB: ProxyIdentity = { nodeId: 'default.web', proxyType: 'dataplane' };
/**
 * An admission without its expiry, which must be a future instant (the stream ends then), and without
 * its credential, which must name the token's kind, id and key (revoking either ends the stream).
 */
function admitted(r: { ok: boolean; expiresAt?: Date; credential?: { kind: string; id: string; kid: string } }): Omit<typeof r, 'expiresAt' | 'credential'> {
  if (!r.ok) return r;
  const { expiresAt, credential, ...rest } = r;
  assert.ok(expiresAt instanceof Date && expiresAt.getTime() > Date.now(), 'an admitted token carries its expiry');
  assert.ok(credential && ['zone', 'dataplane'].includes(credential.kind) && credential.id !== '' && credential.kid !== '', 'an admitted token carries its credential');
  return rest;
}

const INGRESS: ProxyIdentity = { nodeId: 'ingress-1', proxyType: 'ingress' };
const EGRESS: ProxyIdentity = { nodeId: 'egress-1', proxyType: 'egress' };

async function setup() {
  const zoneStore = newStore();
  const dataplaneTokens = await DataplaneTokens.open(zoneStore);
  const global = await ZoneTokens.open(newStore());
  let verifier: ZoneTokens['verifier'] | undefined = global.verifier;
  const auth = tokenAuthenticate({ zone: 'zone-1', dataplaneTokens, zoneTokenVerifier: () => verifier, log });
  return {
    auth, dataplaneTokens, global,
    withoutKey: () => void (verifier = undefined),
    dp: (mesh: string, name: string) => dataplaneTokens.issue({ mesh, name, validForMs: HOUR }),
    zt: (zone: string, ...scopes: ('zone' | 'ingress' | 'egress')[]) => global.issue({ zone, scopes, validForMs: HOUR }),
  };
}

function refused(r: AuthResult, code: status, reason: string | RegExp): void {
  assert.equal(r.ok, false, 'refused');
  if (r.ok) return;
  assert.equal(status[r.code], status[code], r.reason);
  if (typeof reason === 'string') assert.equal(r.reason, reason);
  else assert.match(r.reason, reason);
}

describe('tokenAuthenticate: dataplanes', () => {
  test('a dataplane token for exactly this mesh and name admits the proxy under its node id', async () => {
    const t = await setup();
    assert.deepEqual(admitted(await t.auth(bearer(`Bearer ${await t.dp('default', 'web')}`), WEB)), { ok: true, proxyId: 'default.web' });
    assert.deepEqual(admitted(await t.auth(bearer(`bearer   ${await t.dp('default', 'web')}`), WEB)), { ok: true, proxyId: 'default.web' }, 'the scheme is case-insensitive');
    assert.deepEqual(admitted(await t.auth(bearer(`Bearer ${await t.dp('default', 'web.v2')}`), { nodeId: 'default.web.v2', proxyType: 'dataplane' })),
      { ok: true, proxyId: 'default.web.v2' }, 'the first dot splits mesh from name');
  });

  test('no usable authorization metadata is UNAUTHENTICATED, and says what to send', async () => {
    const t = await setup();
    refused(await t.auth(new Metadata(), WEB), status.UNAUTHENTICATED,
      'dataplane token missing: the proxy sent no "authorization: Bearer <token>" gRPC metadata (get one with "meshfed generate dataplane-token")');
    refused(await t.auth(bearer('Bearer '), WEB), status.UNAUTHENTICATED, 'dataplane token missing: the "authorization" gRPC metadata says "Bearer" but carries no token');
    refused(await t.auth(bearer('Basic dXNlcjpwYXNz'), WEB), status.UNAUTHENTICATED, 'the "authorization" gRPC metadata must be "Bearer <token>", but its scheme is "Basic"');
    refused(await t.auth(bearer('Bearer a b'), WEB), status.UNAUTHENTICATED, /must be "Bearer <token>"/);
    refused(await t.auth(bearer('Bearer a', 'Bearer b'), WEB), status.UNAUTHENTICATED, 'the proxy sent 2 "authorization" gRPC metadata values; send exactly one "Bearer <token>"');
  });

  test('a token that proves nothing is UNAUTHENTICATED', async () => {
    const t = await setup();
    refused(await t.auth(bearer('Bearer not-a-jwt'), WEB), status.UNAUTHENTICATED, /^dataplane token is malformed: not a JWT/);
    const stranger = await DataplaneTokens.open(newStore());
    refused(await t.auth(bearer(`Bearer ${await stranger.issue({ mesh: 'default', name: 'web', validForMs: HOUR })}`), WEB), status.UNAUTHENTICATED,
      /^dataplane token was signed by key ".+", which this zone control plane does not have/);
    refused(await t.auth(bearer(`Bearer ${await t.zt('zone-1', 'ingress')}`), WEB), status.UNAUTHENTICATED,
      'a dataplane needs a dataplane token (from "meshfed generate dataplane-token"), but it presented a zone token');
  });

  test('an expired token is UNAUTHENTICATED', async () => {
    let now = Date.parse('2026-11-20T10:00:00Z');
    const tokens = await DataplaneTokens.open(newStore(), { now: () => now });
    const auth = tokenAuthenticate({ zone: 'zone-1', dataplaneTokens: tokens, zoneTokenVerifier: () => undefined });
    const token = await tokens.issue({ mesh: 'default', name: 'web', validForMs: HOUR });
    now += 2 * HOUR;
    refused(await auth(bearer(`Bearer ${token}`), WEB), status.UNAUTHENTICATED, 'dataplane token expired at 2026-11-20T11:00:00Z');
  });

  test("a good token for another dataplane is PERMISSION_DENIED, saying whose it is", async () => {
    const t = await setup();
    refused(await t.auth(bearer(`Bearer ${await t.dp('default', 'backend')}`), WEB), status.PERMISSION_DENIED,
      'dataplane token is for "default.backend", but the proxy says it is "default.web"');
    refused(await t.auth(bearer(`Bearer ${await t.dp('other', 'web')}`), WEB), status.PERMISSION_DENIED,
      'dataplane token is for mesh "other" ("other.web"), but the proxy says it is "default.web" in mesh "default"');
  });

  test('a verifier that fails for another reason is INTERNAL, not a refusal of the proxy', async () => {
    const auth = tokenAuthenticate({
      zone: 'zone-1', zoneTokenVerifier: () => undefined, log,
      dataplaneTokens: { verify: () => Promise.reject(new Error('store down')) },
    });
    refused(await auth(bearer('Bearer a.b.c'), WEB), status.INTERNAL, 'the control plane could not check the dataplane token: store down');
  });
});

describe('tokenAuthenticate: zone ingresses and egresses', () => {
  test('a zone token of this zone with the scope of the proxy type admits it under its node id', async () => {
    const t = await setup();
    assert.deepEqual(admitted(await t.auth(bearer(`Bearer ${await t.zt('zone-1', 'ingress')}`), INGRESS)), { ok: true, proxyId: 'zoneingress:ingress-1' });
    assert.deepEqual(admitted(await t.auth(bearer(`Bearer ${await t.zt('zone-1', 'egress', 'ingress')}`), EGRESS)), { ok: true, proxyId: 'zoneegress:egress-1' });
  });

  test('the verifier may come asynchronously', async () => {
    const t = await setup();
    const auth = tokenAuthenticate({ zone: 'zone-1', dataplaneTokens: t.dataplaneTokens, zoneTokenVerifier: async () => t.global.verifier });
    assert.deepEqual(admitted(await auth(bearer(`Bearer ${await t.zt('zone-1', 'egress')}`), EGRESS)), { ok: true, proxyId: 'zoneegress:egress-1' });
  });

  test('another scope or another zone is PERMISSION_DENIED', async () => {
    const t = await setup();
    refused(await t.auth(bearer(`Bearer ${await t.zt('zone-1', 'ingress')}`), EGRESS), status.PERMISSION_DENIED,
      'zone token has scopes [ingress], a zone egress needs "egress"');
    refused(await t.auth(bearer(`Bearer ${await t.zt('zone-1', 'zone')}`), INGRESS), status.PERMISSION_DENIED,
      'zone token has scopes [zone], a zone ingress needs "ingress"');
    refused(await t.auth(bearer(`Bearer ${await t.zt('zone-2', 'ingress')}`), INGRESS), status.PERMISSION_DENIED,
      'zone token is for zone "zone-2", but this zone declares "zone-1"');
  });

  test('a token that proves nothing is UNAUTHENTICATED', async () => {
    const t = await setup();
    refused(await t.auth(new Metadata(), INGRESS), status.UNAUTHENTICATED,
      'zone token missing: the proxy sent no "authorization: Bearer <token>" gRPC metadata (get one with "meshfed generate zone-token --scope ingress")');
    const otherGlobal = await ZoneTokens.open(newStore());
    refused(await t.auth(bearer(`Bearer ${await otherGlobal.issue({ zone: 'zone-1', scopes: ['ingress'], validForMs: HOUR })}`), INGRESS),
      status.UNAUTHENTICATED, /^zone token was signed by key ".+", which this control plane does not have/);
    refused(await t.auth(bearer(`Bearer ${await t.dp('default', 'web')}`), EGRESS), status.UNAUTHENTICATED,
      'a zone egress needs a zone token (from "meshfed generate zone-token --scope egress"), but it presented a dataplane token');
  });

  test("UNAVAILABLE while global's key has not arrived; dataplanes are not held up by it", async () => {
    const t = await setup();
    const token = await t.zt('zone-1', 'ingress');
    t.withoutKey();
    refused(await t.auth(bearer(`Bearer ${token}`), INGRESS), status.UNAVAILABLE, KEY_NOT_ARRIVED);
    assert.equal(KEY_NOT_ARRIVED, "global's zone-token public key has not arrived over KDS yet");
    refused(await t.auth(new Metadata(), INGRESS), status.UNAUTHENTICATED, /^zone token missing/);
    assert.deepEqual(admitted(await t.auth(bearer(`Bearer ${await t.dp('default', 'web')}`), WEB)), { ok: true, proxyId: 'default.web' });
  });
});

describe('a federated zone: zone tokens checked with the key KDS stored', () => {
  test('refused until the key arrives, admitted after, refused again when it is removed', async (t) => {
    const bus = new InProcessEventBus();
    const store = new MemoryStore(bus);
    const global = await ZoneTokens.open(newStore());
    const watcher = await ZoneTokenKeyWatcher.start({ store, bus, log });
    t.after(() => watcher.close());
    const auth = tokenAuthenticate({ zone: 'zone-1', dataplaneTokens: await DataplaneTokens.open(store), zoneTokenVerifier: () => watcher.current() });
    const md = bearer(`Bearer ${await global.issue({ zone: 'zone-1', scopes: ['ingress'], validForMs: HOUR })}`);

    refused(await auth(md, INGRESS), status.UNAVAILABLE, KEY_NOT_ARRIVED);
    const key = { type: 'ZoneTokenPublicKey', name: ZONE_TOKEN_PUBLIC_KEY_NAME } as const;
    await store.commit([{ op: 'put', resource: { ...key, labels: { 'kuma.io/origin': 'global' }, spec: { jwk: global.publicJwk() } } }]);
    await watcher.idle();
    assert.deepEqual(admitted(await auth(md, INGRESS)), { ok: true, proxyId: 'zoneingress:ingress-1' });
    await store.commit([{ op: 'delete', key }]);
    await watcher.idle();
    refused(await auth(md, INGRESS), status.UNAVAILABLE, KEY_NOT_ARRIVED);
  });
});

describe('through the ADS server', () => {
  test('the refusal reaches the proxy as the gRPC status and message', async (t) => {
    const setupT = await setup();
    const server = new AdsServer({ cache: new SnapshotCache(), insights: new ProxyInsights(), log, address: '127.0.0.1', port: 0, credentials: ServerCredentials.createInsecure(), authenticate: setupT.auth });
    const port = await server.start();
    const client = new AdsClient(`127.0.0.1:${port}`, credentials.createInsecure());
    t.after(async () => {
      client.close();
      await server.stop();
    });
    const firstRequest = (md: Metadata, node: ProxyIdentity) =>
      new Promise<{ code?: number; details?: string } | 'admitted'>((resolve) => {
        const call = client.makeBidiStreamRequest<Buffer, Buffer>(ADS_SERVICE.StreamAggregatedResources!.path, (b) => b, (b) => b, md);
        call.on('error', resolve);
        call.on('data', () => {});
        call.write(adsCodec.encodeRequest({ node: { id: node.nodeId, metadata: toStruct({ proxyType: node.proxyType }) }, type_url: XDS_TYPE_URL.cluster }));
        // An admitted proxy with nothing to receive just waits: no error in this time means admitted.
        setTimeout(() => {
          resolve('admitted');
          call.cancel();
        }, 400).unref();
      });

    const denied = await firstRequest(bearer(`Bearer ${await setupT.dp('default', 'backend')}`), WEB);
    assert.notEqual(denied, 'admitted');
    if (denied === 'admitted') return;
    assert.equal(denied.code, status.PERMISSION_DENIED);
    assert.equal(denied.details, 'dataplane token is for "default.backend", but the proxy says it is "default.web"');

    assert.equal(await firstRequest(bearer(`Bearer ${await setupT.dp('default', 'web')}`), WEB), 'admitted');
  });
});
