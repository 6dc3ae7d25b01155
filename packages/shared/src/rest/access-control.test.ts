// Who may call what on the REST API, through real requests to the API as the CPs build it.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { AccessGrantsCache } from '../auth/access-grants.js';
import { loadOrCreateAdminToken } from '../auth/admin-token.js';
import { UserTokens } from '../auth/user-token.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { MemoryStore } from '../store/memory-store.js';
import { createLogger } from '../telemetry/logger.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { access } from './access.js';
import { installAccessControl, isLoopback } from './access-control.js';
import { buildApiServer } from './api-server.js';
import { registerUserTokenRoutes } from './user-token-routes.js';

const quiet = new Writable({ write: (_c, _e, cb) => cb() });
const log = createLogger({ component: 'test', destination: quiet });
const REMOTE = '192.0.2.10';

async function api(o: { localhostIsAdmin?: boolean; anonymousReads?: boolean } = {}) {
  const bus = new InProcessEventBus();
  const store = new MemoryStore(bus);
  const userTokens = await UserTokens.open(store);
  await loadOrCreateAdminToken(store, userTokens);
  const grants = await AccessGrantsCache.start({ store, bus, log });
  const app = buildApiServer({
    mode: 'global', store, log, telemetry: new Telemetry({ service: 'test' }),
    access: { userTokens, grants: () => grants.current(), localhostIsAdmin: o.localhostIsAdmin ?? true, anonymousReads: o.anonymousReads ?? false },
    extraRoutes: (a) => registerUserTokenRoutes(a, { tokens: userTokens, store }),
  });
  await store.commit([{ op: 'put', resource: { type: 'Mesh', name: 'default', labels: {}, spec: {} } }]);
  const token = async (name: string, groups: string[]) => (await userTokens.issue({ name, groups, validForMs: 3_600_000 })).token;
  return { app, store, grants, token, close: async () => { grants.close(); await app.close(); } };
}

type Api = Awaited<ReturnType<typeof api>>;

function call(a: Api, method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, o: { token?: string; from?: string; body?: unknown; authorization?: string } = {}) {
  const headers: Record<string, string> = o.body !== undefined ? { 'content-type': 'application/json' } : {};
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  if (o.authorization !== undefined) headers.authorization = o.authorization;
  return a.app.inject({ method, url, headers, remoteAddress: o.from ?? '127.0.0.1', ...(o.body !== undefined ? { payload: JSON.stringify(o.body) } : {}) });
}

const secret = (name: string, data = 'c2VjcmV0') => ({ type: 'Secret', mesh: 'default', name, data });

describe('REST API access control', () => {
  let a: Api;
  let reader: string;
  let admin: string;
  before(async () => {
    a = await api();
    reader = await a.token('alice', ['readers']);
    admin = await a.token('root', ['mesh-system:admin']);
  });
  after(() => a.close());

  test('loopback without a token is the admin; elsewhere without a token is a 401 with the error body', async () => {
    assert.equal((await call(a, 'PUT', '/meshes/default/secrets/s1', { body: secret('s1') })).statusCode, 201);
    const r = await call(a, 'GET', '/meshes', { from: REMOTE });
    assert.equal(r.statusCode, 401);
    assert.equal(r.json().title, 'Unauthenticated');
    assert.match(r.json().details, /authentication required to READ Mesh: present a user token/);
    assert.equal((await call(a, 'GET', '/', { from: REMOTE })).statusCode, 401, 'anonymous reads are off by default');
    assert.equal((await call(a, 'GET', '/no/such/path', { from: REMOTE })).statusCode, 401, 'unknown paths too');
    const metrics = (await call(a, 'GET', '/metrics')).body;
    assert.match(metrics, /meshfed_api_refusals_total\{[^}]*reason="anonymous"[^}]*\} 3/, 'refusals are counted by reason');
  });

  test('a reader reads, but not secrets; writes and tokens are a 403 that names the missing right', async () => {
    assert.equal((await call(a, 'GET', '/meshes', { token: reader, from: REMOTE })).statusCode, 200);
    assert.equal((await call(a, 'GET', '/meshes/default/meshtimeouts', { token: reader, from: REMOTE })).statusCode, 200);
    const put = await call(a, 'PUT', '/meshes/m2', { token: reader, from: REMOTE, body: { type: 'Mesh', name: 'm2' } });
    assert.equal(put.statusCode, 403);
    assert.deepEqual(put.json(), { title: 'Forbidden', details: 'user "alice" (groups: readers) lacks the right to CREATE Mesh "m2": ask an admin for an AccessRole that grants it', causes: [] });
    const update = await call(a, 'PUT', '/meshes/default', { token: reader, body: { type: 'Mesh', name: 'default' } });
    assert.match(update.json().details, /lacks the right to UPDATE Mesh "default"/, 'an existing resource is an UPDATE');
    assert.match((await call(a, 'DELETE', '/meshes/default', { token: reader })).json().details, /lacks the right to DELETE Mesh "default"/);
    for (const url of ['/meshes/default/secrets', '/meshes/default/secrets/s1', '/secrets']) {
      const r = await call(a, 'GET', url, { token: reader, from: REMOTE });
      assert.equal(r.statusCode, 403, url);
      assert.match(r.json().details, /lacks the right to READ Secret/);
    }
    for (const [url, right, body] of [
      ['/tokens/user', 'GENERATE_USER_TOKEN', { name: 'eve', groups: ['mesh-system:admin'], validFor: '1h' }],
    ] as const) {
      const r = await call(a, 'POST', url, { token: reader, body });
      assert.equal(r.statusCode, 403, url);
      assert.match(r.json().details, new RegExp(`lacks the right to ${right}`));
    }
    assert.equal((await call(a, 'GET', '/no/such/path', { token: reader })).statusCode, 404);
  });

  test('a presented token is checked from loopback too: a bad one is a 401, never a fallback to admin', async () => {
    const r = await call(a, 'PUT', '/meshes/m3', { token: 'not-a-token', body: { type: 'Mesh', name: 'm3' } });
    assert.equal(r.statusCode, 401);
    assert.match(r.json().details, /user token is malformed/);
    const basic = await call(a, 'GET', '/meshes', { authorization: 'Basic YWxpY2U6cHc=' });
    assert.equal(basic.statusCode, 401);
    assert.equal(basic.json().details, 'the Authorization header must be "Bearer <user token>", but its scheme is "Basic"');
    assert.doesNotMatch(basic.body, /YWxpY2U6cHc/, 'the credential is not echoed');
  });

  test('an admin token may do everything, from anywhere', async () => {
    assert.equal((await call(a, 'PUT', '/meshes/m4', { token: admin, from: REMOTE, body: { type: 'Mesh', name: 'm4' } })).statusCode, 201);
    const secrets = await call(a, 'GET', '/meshes/default/secrets', { token: admin, from: REMOTE });
    assert.equal(secrets.json().items[0].data, 'c2VjcmV0');
    const minted = await call(a, 'POST', '/tokens/user', { token: admin, from: REMOTE, body: { name: 'bob', groups: ['team-a'], validFor: '1h' } });
    assert.equal(minted.statusCode, 200);
    assert.equal((await call(a, 'GET', '/meshes', { token: minted.body, from: REMOTE })).statusCode, 200);
  });

  test("the mesh CA's private key is never served, not even to the admin; lists leave it out", async () => {
    const labels = { 'kuma.io/mesh-ca': 'builtin', 'kuma.io/mesh-ca-backend': 'ca-1' };
    await a.store.commit([
      { op: 'put', resource: { type: 'Secret', mesh: 'default', name: 'default.ca-builtin-key-ca-1', labels, spec: { data: 'a2V5' } } },
      { op: 'put', resource: { type: 'Secret', mesh: 'default', name: 'default.ca-builtin-cert-ca-1', labels, spec: { data: 'Y2VydA==' } } },
    ]);
    const one = await call(a, 'GET', '/meshes/default/secrets/default.ca-builtin-key-ca-1', { token: admin });
    assert.equal(one.statusCode, 403);
    assert.match(one.json().details, /private key of mesh "default"'s CA is never served by the API: it travels only over KDS/);
    const list = (await call(a, 'GET', '/meshes/default/secrets', { token: admin })).json();
    assert.deepEqual(list.items.map((i: { name: string }) => i.name).sort(), ['default.ca-builtin-cert-ca-1', 's1']);
    assert.equal(list.total, 2);
    assert.equal((await call(a, 'GET', '/meshes/default/secrets/default.ca-builtin-cert-ca-1', { token: admin })).statusCode, 200);
  });

  test('a non-admin reading MeshGateways sees inline certificates redacted (they hold private keys); an admin sees them', async () => {
    const gateway = {
      type: 'MeshGateway', mesh: 'default', name: 'tls-gw', selectors: [{ match: { 'kuma.io/service': 'gw' } }],
      conf: { listeners: [{ port: 8443, protocol: 'HTTPS', hostname: 'a.example.com', tls: { certificates: [{ inline: 'S0VZ' }, { secret: 'gw-cert' }] } }] },
    };
    assert.equal((await call(a, 'PUT', '/meshes/default/meshgateways/tls-gw', { body: gateway })).statusCode, 201);
    const carol = await a.token('carol', ['gw-readers']);
    await call(a, 'PUT', '/accessroles/gw-readers', { body: { type: 'AccessRole', name: 'gw-readers', rules: [{ types: ['MeshGateway'], meshes: ['default'], access: ['READ'] }] } });
    await call(a, 'PUT', '/accessrolebindings/gw-readers', { body: { type: 'AccessRoleBinding', name: 'gw-readers', subjects: [{ type: 'Group', name: 'gw-readers' }], roles: ['gw-readers'] } });
    await a.grants.settled();
    const one = await call(a, 'GET', '/meshes/default/meshgateways/tls-gw', { token: carol });
    assert.equal(one.statusCode, 200, one.body);
    assert.deepEqual(one.json().conf.listeners[0].tls.certificates, [{ inline: '[redacted]' }, { secret: 'gw-cert' }]);
    const list = await call(a, 'GET', '/meshes/default/meshgateways', { token: carol });
    assert.doesNotMatch(list.body, /S0VZ/);
    assert.equal((await call(a, 'GET', '/meshes/default/meshgateways/tls-gw', { token: admin })).json().conf.listeners[0].tls.certificates[0].inline, 'S0VZ');
    await call(a, 'DELETE', '/accessrolebindings/gw-readers');
    await call(a, 'DELETE', '/meshes/default/meshgateways/tls-gw');
  });

  test('AccessRoles apply as soon as they are written, and a non-admin never sees secret data in lists', async () => {
    const bob = await a.token('bob', ['team-a']);
    assert.equal((await call(a, 'GET', '/meshes/default/secrets', { token: bob })).statusCode, 403);
    await call(a, 'PUT', '/accessroles/secret-readers', { body: { type: 'AccessRole', name: 'secret-readers', rules: [{ types: ['Secret', 'MeshTimeout'], meshes: ['default'], access: ['READ', 'CREATE'] }] } });
    const bound = await call(a, 'PUT', '/accessrolebindings/team-a', { body: { type: 'AccessRoleBinding', name: 'team-a', subjects: [{ type: 'Group', name: 'team-a' }], roles: ['secret-readers'] } });
    assert.equal(bound.statusCode, 201, bound.body);
    await a.grants.settled();
    const list = await call(a, 'GET', '/meshes/default/secrets', { token: bob });
    assert.equal(list.statusCode, 200);
    assert.ok(list.json().items.length > 0);
    for (const i of list.json().items) assert.equal('data' in i, false, `${i.name} listed without data`);
    assert.equal((await call(a, 'GET', '/meshes/default/secrets/s1', { token: bob })).json().data, 'c2VjcmV0', 'granted: the secret itself');
    const timeout = { type: 'MeshTimeout', mesh: 'default', name: 't1', spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout: '1m' } }] } };
    const created = await call(a, 'PUT', '/meshes/default/meshtimeouts/t1', { token: bob, body: timeout });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal((await call(a, 'PUT', '/meshes/m4/meshtimeouts/t1', { token: bob, body: { ...timeout, mesh: 'm4' } })).statusCode, 403, 'not in another mesh');
    await call(a, 'DELETE', '/accessrolebindings/team-a');
    await a.grants.settled();
    assert.equal((await call(a, 'GET', '/meshes/default/secrets', { token: bob })).statusCode, 403, 'revoked with its binding');
  });

  test('the admin token is served to loopback only', async () => {
    const r = await call(a, 'GET', '/global-secrets/admin-user-token');
    assert.equal(r.statusCode, 200);
    const token = Buffer.from(r.json().data, 'base64').toString();
    assert.equal((await call(a, 'GET', '/meshes/default/secrets', { token, from: REMOTE })).statusCode, 200, 'it is an admin token');
    const remote = await call(a, 'GET', '/global-secrets/admin-user-token', { token: admin, from: REMOTE });
    assert.equal(remote.statusCode, 403);
    assert.match(remote.json().details, /served only to requests from the control plane's own host/);
    assert.equal((await call(a, 'GET', '/global-secrets/user-token-signing-key')).statusCode, 404, 'other global secrets are not served at all');
  });
});

describe('REST API access options', () => {
  test('--api-localhost-is-admin=false: loopback needs a token too, but still gets the admin token', async () => {
    const a = await api({ localhostIsAdmin: false });
    after(() => a.close());
    assert.equal((await call(a, 'GET', '/meshes')).statusCode, 401);
    const r = await call(a, 'GET', '/global-secrets/admin-user-token');
    assert.equal(r.statusCode, 200);
    assert.equal((await call(a, 'GET', '/meshes', { token: Buffer.from(r.json().data, 'base64').toString() })).statusCode, 200);
  });

  test('--api-anonymous-reads opens /, /ready and /metrics, and nothing else', async () => {
    const a = await api({ anonymousReads: true });
    after(() => a.close());
    for (const url of ['/', '/ready', '/metrics']) assert.equal((await call(a, 'GET', url, { from: REMOTE })).statusCode, 200, url);
    assert.equal((await call(a, 'GET', '/meshes', { from: REMOTE })).statusCode, 401);
  });

  test('a route that declares no access rule fails the start', async () => {
    const app = Fastify();
    installAccessControl(app, { log, localhostIsAdmin: true, anonymousReads: false, grants: () => ({ roles: new Map(), bindings: [] }), userTokens: { verify: async () => { throw new Error('unused'); } } });
    app.get('/declared', access('open'), async () => ({}));
    assert.throws(() => app.get('/forgotten', async () => ({})), /GET \/forgotten declares no access rule/);
    await app.close();
  });

  test('loopback is 127.0.0.0/8 and ::1, also IPv4-mapped', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), true, a);
    for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', '::2', undefined]) assert.equal(isLoopback(a), false, String(a));
  });
});
