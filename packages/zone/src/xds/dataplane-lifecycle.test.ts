// A proxy's Dataplane from its node metadata: how it is refused (bad JSON, wrong identity, a bad field,
// a token whose tags it does not carry), and how the store sees it registered and deregistered.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Metadata, status } from '@grpc/grpc-js';
import { createLogger, DataplaneTokens, InProcessEventBus, MemoryStore, type Resource, STREAM_REGISTERED_LABEL, toStruct } from '@meshfed/shared';
import { type Authenticate, proxyIdentityOf, type ProxyIdentity } from './auth.js';
import { DataplaneLifecycle, dataplaneOfNode } from './dataplane-lifecycle.js';
import { tokenAuthenticate, tokenTagsRefusal } from './proxy-auth.js';
import { ProxyInsights } from './proxy-insights.js';

const log = createLogger({ component: 'dataplane-lifecycle-test', level: 'fatal' });
const FIELD = 'node.metadata["dataplane.resource"]';

const web = (over: Record<string, unknown> = {}) => ({
  type: 'Dataplane', mesh: 'default', name: 'web',
  networking: { address: '127.0.0.1', inbound: [{ port: 8080, tags: { 'kuma.io/service': 'web', version: 'v1' } }] },
  ...over,
});
const meta = (resource: unknown) => ({ proxyType: 'dataplane', 'dataplane.resource': typeof resource === 'string' ? resource : JSON.stringify(resource) });
const errorOf = (r: ReturnType<typeof dataplaneOfNode>) => ('error' in r ? r.error : assert.fail(`expected a refusal, got ${JSON.stringify(r)}`));
const dataplaneOf = (resource: unknown = web()): Resource => {
  const r = dataplaneOfNode('default.web', meta(resource));
  if ('error' in r || !r.dataplane) return assert.fail(`expected a Dataplane, got ${JSON.stringify(r)}`);
  return r.dataplane;
};

describe('dataplaneOfNode', () => {
  test('no dataplane.resource: nothing to register', () => {
    assert.deepEqual(dataplaneOfNode('default.web', { proxyType: 'dataplane' }), { dataplane: undefined });
  });

  test('a valid resource becomes the Dataplane, validated as a REST PUT is', () => {
    const dp = dataplaneOf();
    assert.equal(dp.type, 'Dataplane');
    assert.equal(dp.mesh, 'default');
    assert.equal(dp.name, 'web');
    assert.deepEqual((dp.spec as { networking: { inbound: unknown[] } }).networking.inbound, [{ port: 8080, tags: { 'kuma.io/service': 'web', version: 'v1' } }]);
  });

  test('bad JSON is refused saying so', () => {
    assert.match(errorOf(dataplaneOfNode('default.web', meta('{"type": "Dataplane",'))), new RegExp(`^${escape(FIELD)} is not valid JSON: `));
  });

  test('not a string is refused', () => {
    assert.equal(errorOf(dataplaneOfNode('default.web', { 'dataplane.resource': 5 })), `${FIELD} must be a JSON string of the Dataplane, got number`);
  });

  test('another type is refused', () => {
    assert.equal(errorOf(dataplaneOfNode('default.web', meta(web({ type: 'ZoneEgress' })))), `${FIELD} type must be "Dataplane", got "ZoneEgress"`);
  });

  test('a name or mesh that is not the node id is refused, naming it', () => {
    assert.equal(errorOf(dataplaneOfNode('default.web', meta(web({ name: 'api' })))),
      `${FIELD} name "api" does not match node.id "default.web": a proxy registers only the Dataplane <mesh>.<name> it is`);
    assert.equal(errorOf(dataplaneOfNode('default.web', meta(web({ mesh: 'other', name: 'api' })))),
      `${FIELD} mesh "other" and name "api" do not match node.id "default.web": a proxy registers only the Dataplane <mesh>.<name> it is`);
  });

  test('a bad field is refused with its path', () => {
    const bad = web({ networking: { address: '127.0.0.1', inbound: [{ port: 70000, tags: { 'kuma.io/service': 'web' } }] } });
    assert.match(errorOf(dataplaneOfNode('default.web', meta(bad))), new RegExp(`^${escape(FIELD)} is not a valid Dataplane: networking\\.inbound\\[0\\]\\.port: `));
    const unknown = web({ networking: { address: '127.0.0.1', inbound: [{ port: 1, tags: { 'kuma.io/service': 'web' } }] }, color: 'red' });
    assert.equal(errorOf(dataplaneOfNode('default.web', meta(unknown))), `${FIELD} is not a valid Dataplane: color: unknown field "color"`);
  });

  test('through proxyIdentityOf: only for dataplanes', () => {
    const node = (metadata: Record<string, string>, id = 'default.web') => ({ id, metadata: toStruct(metadata) });
    const identity = proxyIdentityOf(node(meta(web())));
    assert.ok(!('error' in identity) && identity.dataplane?.name === 'web');
    const refused = proxyIdentityOf(node(meta(web({ name: 'api' }))));
    assert.ok('error' in refused && refused.error.includes('name "api"'));
    // An egress's metadata is not a Dataplane's business.
    const egress = proxyIdentityOf(node({ proxyType: 'egress', 'dataplane.resource': '{' }, 'egress-1'));
    assert.deepEqual(egress, { nodeId: 'egress-1', proxyType: 'egress' });
  });
});

describe('tokenTagsRefusal', () => {
  test('no tags in the token: anything goes', () => {
    assert.equal(tokenTagsRefusal({}, dataplaneOf()), undefined);
  });

  test('tags the Dataplane declares: admitted', () => {
    assert.equal(tokenTagsRefusal({ 'kuma.io/service': 'web', version: 'v1' }, dataplaneOf()), undefined);
  });

  test('a tag with another value is refused, naming it', () => {
    assert.equal(tokenTagsRefusal({ 'kuma.io/service': 'api' }, dataplaneOf()),
      'the dataplane token allows tag kuma.io/service "api" only, but the Dataplane\'s inbounds declare kuma.io/service "web"');
  });

  test('a tag the Dataplane lacks is refused', () => {
    assert.equal(tokenTagsRefusal({ team: 'a' }, dataplaneOf()), 'the dataplane token allows tag team "a" only, but the Dataplane\'s inbounds declare no team tag');
  });

  test('a second inbound with another value is refused', () => {
    const two = web({ networking: { address: '127.0.0.1', inbound: [{ port: 1, tags: { 'kuma.io/service': 'web' } }, { port: 2, tags: { 'kuma.io/service': 'admin' } }] } });
    assert.equal(tokenTagsRefusal({ 'kuma.io/service': 'web' }, dataplaneOf(two)),
      'the dataplane token allows tag kuma.io/service "web" only, but the Dataplane\'s inbounds declare kuma.io/service "admin", "web"');
  });

  test('through tokenAuthenticate: PERMISSION_DENIED with a real token', async () => {
    const dataplaneTokens = await DataplaneTokens.open(new MemoryStore(new InProcessEventBus()));
    const auth = tokenAuthenticate({ zone: 'zone-1', dataplaneTokens, zoneTokenVerifier: () => undefined, log });
    const md = async (tags: Record<string, string>) => {
      const m = new Metadata();
      m.set('authorization', `Bearer ${await dataplaneTokens.issue({ mesh: 'default', name: 'web', tags, validForMs: 60_000 })}`);
      return m;
    };
    const node: ProxyIdentity = { nodeId: 'default.web', proxyType: 'dataplane', dataplane: dataplaneOf() };
    assert.equal((await auth(await md({ 'kuma.io/service': 'web' }), node)).ok, true);
    const r = await auth(await md({ 'kuma.io/service': 'api' }), node);
    assert.ok(!r.ok && r.code === status.PERMISSION_DENIED && r.reason.includes('kuma.io/service "api"'), JSON.stringify(r));
    // Without a Dataplane brought along there is nothing to hold the tags against.
    assert.equal((await auth(await md({ 'kuma.io/service': 'api' }), { nodeId: 'default.web', proxyType: 'dataplane' })).ok, true);
  });
});

describe('DataplaneLifecycle', () => {
  const admitAll: Authenticate = (_md, node) => ({ ok: true, proxyId: node.nodeId });
  const setup = (deregistrationDelayMs = 0, store = new MemoryStore(new InProcessEventBus())) => {
    const insights = new ProxyInsights();
    const lifecycle = new DataplaneLifecycle({ store, log, zone: 'zone-1', insights: () => insights, deregistrationDelayMs, restartGraceMs: 100 });
    const open = async (resource: unknown = web()) => {
      const r = await lifecycle.admitting(admitAll)(new Metadata(), { nodeId: 'default.web', proxyType: 'dataplane', dataplane: dataplaneOf(resource) });
      assert.ok(r.ok && r.lifecycle);
      r.lifecycle.opened();
      return r.lifecycle;
    };
    return { store, insights, lifecycle, open };
  };
  const KEY = { type: 'Dataplane', mesh: 'default', name: 'web' } as const;

  test('registered while the stream lives, gone after', async () => {
    const { store, lifecycle, open } = setup();
    await store.commit([{ op: 'put', resource: { type: 'Mesh', name: 'default', labels: {}, spec: {} } }]);
    const s = await open();
    await lifecycle.idle();
    assert.equal((await store.get(KEY))?.name, 'web', 'registered');
    s.closed();
    await lifecycle.idle();
    assert.equal(await store.get(KEY), undefined, 'deregistered');
  });

  test('a proxy that redials within the delay keeps its Dataplane; one that does not loses it after the delay', async () => {
    const { store, lifecycle, open } = setup(150);
    await store.commit([{ op: 'put', resource: { type: 'Mesh', name: 'default', labels: {}, spec: {} } }]);
    const first = await open();
    await lifecycle.idle();
    const version = (await store.get(KEY))!.version;
    first.closed();
    const second = await open();
    await new Promise((r) => setTimeout(r, 300));
    await lifecycle.idle();
    assert.equal((await store.get(KEY))?.version, version, 'kept, not even rewritten');
    // The first stream's late close changes nothing: the second holds the registration.
    first.closed();
    await new Promise((r) => setTimeout(r, 300));
    await lifecycle.idle();
    assert.ok(await store.get(KEY));
    second.closed();
    await lifecycle.idle();
    assert.ok(await store.get(KEY), 'still there while the delay runs');
    await new Promise((r) => setTimeout(r, 300));
    await lifecycle.idle();
    assert.equal(await store.get(KEY), undefined, 'deregistered once the delay passed');
  });

  test('a registered Dataplane says so in a label; after a restart it waits for its proxy, then goes; one PUT by hand stays', async () => {
    const store = new MemoryStore(new InProcessEventBus());
    await store.commit([{ op: 'put', resource: { type: 'Mesh', name: 'default', labels: {}, spec: {} } }]);
    // Before the restart: web registered by its stream, api by its stream, ops PUT by an operator.
    const before = setup(0, store);
    await before.open(web());
    const apiNode = dataplaneOfNode('default.api', meta(web({ name: 'api' })));
    assert.ok(!('error' in apiNode) && apiNode.dataplane);
    const api = await before.lifecycle.admitting(admitAll)(new Metadata(), { nodeId: 'default.api', proxyType: 'dataplane', dataplane: apiNode.dataplane });
    assert.ok(api.ok && api.lifecycle);
    api.lifecycle.opened();
    await before.lifecycle.idle();
    assert.equal((await store.get(KEY))?.labels[STREAM_REGISTERED_LABEL.key], STREAM_REGISTERED_LABEL.value);
    await store.commit([{ op: 'put', resource: { type: 'Dataplane', mesh: 'default', name: 'ops', labels: {}, spec: (await store.get(KEY))!.spec } }]);
    await before.lifecycle.stop();

    // The zone restarts: web's proxy comes back within the grace, api's never does.
    const after = setup(0, store);
    assert.equal(await after.lifecycle.start(), 2, 'web and api wait for their proxies');
    const back = await after.open(web());
    await new Promise((r) => setTimeout(r, 250));
    await after.lifecycle.idle();
    assert.ok(await store.get(KEY), 'web: its proxy came back');
    assert.equal(await store.get({ type: 'Dataplane', mesh: 'default', name: 'api' }), undefined, 'api: gone after the grace');
    assert.ok(await store.get({ type: 'Dataplane', mesh: 'default', name: 'ops' }), 'ops: never the zone\'s to delete');
    back.closed();
    await after.lifecycle.idle();
    assert.equal(await store.get(KEY), undefined);
  });

  test('a stream ended by the zone stopping leaves its Dataplane', async () => {
    const { store, lifecycle, open } = setup();
    await store.commit([{ op: 'put', resource: { type: 'Mesh', name: 'default', labels: {}, spec: {} } }]);
    const s = await open();
    await lifecycle.idle();
    await lifecycle.stop();
    s.closed();
    await lifecycle.idle();
    assert.ok(await store.get(KEY));
  });

  test("an operator's write since is not deleted", async () => {
    const { store, lifecycle, open } = setup();
    await store.commit([{ op: 'put', resource: { type: 'Mesh', name: 'default', labels: {}, spec: {} } }]);
    const s = await open();
    await lifecycle.idle();
    const stored = (await store.get(KEY))!;
    await store.commit([{ op: 'put', resource: { ...stored, labels: { team: 'ops' } } }]);
    s.closed();
    await lifecycle.idle();
    assert.deepEqual((await store.get(KEY))?.labels, { team: 'ops' });
  });

  test('a store failure is shown on the insight, not thrown', async () => {
    const { store, insights, lifecycle, open } = setup();
    insights.connected('default.web', 'dataplane', 'delta');
    // No mesh "default" in this store: the put fails.
    const s = await open();
    await lifecycle.idle();
    assert.match(insights.get('default.web')?.problem ?? '', /^its Dataplane could not be registered: mesh "default" does not exist/);
    s.closed();
    await lifecycle.idle();
    assert.equal(await store.get(KEY), undefined);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
