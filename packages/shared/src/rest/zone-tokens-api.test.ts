// POST /tokens/zone: through the API server in process, and through a started control plane.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { ZoneTokens } from '../auth/zone-token.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { type ControlPlaneContext, startControlPlane } from '../process/control-plane.js';
import { MemoryStore } from '../store/memory-store.js';
import { createLogger } from '../telemetry/logger.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { buildApiServer } from './api-server.js';
import { refuseZoneTokens, serveZoneTokens } from './zone-token-routes.js';

const quiet = () => createLogger({ component: 'test', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

function issuingServer() {
  const store = new MemoryStore(new InProcessEventBus());
  const log = quiet();
  const telemetry = new Telemetry({ service: 'test' });
  const app = buildApiServer({ mode: 'global', store, log, telemetry, extraRoutes: (a) => serveZoneTokens(a, { store, log }) });
  return { app, store, telemetry };
}

const post = (app: ReturnType<typeof issuingServer>['app'], payload: string, contentType = 'application/json') =>
  app.inject({ method: 'POST', url: '/tokens/zone', payload, headers: { 'content-type': contentType } });

describe('POST /tokens/zone', () => {
  const { app, store, telemetry } = issuingServer();
  after(async () => {
    await app.close();
    await telemetry.shutdown();
  });

  test('answers a token as text that verifies with the key in the store', async () => {
    const res = await post(app, JSON.stringify({ zone: 'zone-1', scope: ['zone', 'egress'], validFor: '720h' }));
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.equal(res.headers['cache-control'], 'no-store');
    const tokens = await ZoneTokens.open(store);
    const v = await tokens.verify(res.body, { zone: 'zone-1', scope: 'zone' });
    assert.deepEqual(v.scopes, ['zone', 'egress']);
    assert.equal(v.expiresAt.getTime() - v.issuedAt.getTime(), 720 * 3_600_000);
  });

  test('takes YAML like every other body', async () => {
    const res = await post(app, 'zone: zone-2\nscope: [ingress]\nvalidFor: 30d\n', 'application/yaml');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await (await ZoneTokens.open(store)).verify(res.body, { scope: 'ingress' })).zone, 'zone-2');
  });

  const BAD: [string, unknown, string[]][] = [
    ['empty object', {}, ['zone: is required', 'scope: is required', 'validFor: is required']],
    ['bad zone name', { zone: 'Zone 1', scope: ['zone'], validFor: '1h' }, ["zone: invalid characters: use lowercase letters, digits, '-', '_' and '.'"]],
    ['zone not a string', { zone: 7, scope: ['zone'], validFor: '1h' }, ['zone: must be a string']],
    ['no scope', { zone: 'z', scope: [], validFor: '1h' }, ['scope: must name at least one scope: zone, ingress or egress']],
    ['unknown scope', { zone: 'z', scope: ['zone', 'admin'], validFor: '1h' }, ['scope[1]: must be one of zone, ingress, egress']],
    ['scope not an array', { zone: 'z', scope: 'zone', validFor: '1h' }, ['scope: must be an array of scopes']],
    ['not a duration', { zone: 'z', scope: ['zone'], validFor: '1 hour' }, ['validFor: must be a duration such as 500ms, 10s, 5m, 1h']],
    ['zero duration', { zone: 'z', scope: ['zone'], validFor: '0s' }, ['validFor: must be positive']],
    ['over ten years', { zone: 'z', scope: ['zone'], validFor: '3651d' }, ['validFor: must be at most 10y (87600h)']],
    ['unknown field', { zone: 'z', scope: ['zone'], validFor: '1h', mesh: 'default' }, ['mesh: unknown field "mesh": use zone, scope and validFor']],
    ['not an object', [1], [': the body must be a JSON object with zone, scope and validFor']],
  ];
  for (const [name, body, causes] of BAD) {
    test(`400 with the field of each problem: ${name}`, async () => {
      const res = await post(app, JSON.stringify(body));
      assert.equal(res.statusCode, 400, res.body);
      const answer = res.json() as { title: string; details: string; causes: { field: string; message: string }[] };
      assert.equal(answer.title, 'Invalid request');
      assert.equal(answer.details, 'the zone token request is invalid');
      assert.deepEqual(answer.causes.map((c) => `${c.field}: ${c.message}`), causes);
    });
  }

  test('a body that is not JSON is a 400 too', async () => {
    const res = await post(app, '{"zone": ');
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().title, 'Malformed body');
  });

  test('ten years exactly is allowed', async () => {
    assert.equal((await post(app, JSON.stringify({ zone: 'z', scope: ['zone'], validFor: '87600h' }))).statusCode, 200);
  });
});

describe('control planes and POST /tokens/zone', () => {
  const start = (mode: 'global' | 'zone', extraRoutes: (app: Parameters<typeof serveZoneTokens>[0], ctx: ControlPlaneContext) => void) =>
    startControlPlane({
      component: mode === 'global' ? 'global' : 'zone', mode, store: 'memory', apiPort: 0, apiAddress: '127.0.0.1',
      logLevel: 'error', createDefaultMesh: mode === 'global', log: quiet(),
      setup: async (ctx) => ({ routes: (app) => extraRoutes(app, ctx) }),
      ...(mode === 'zone' ? { zone: 'zone-1' } : {}),
    });
  const request = (url: string, body: unknown) =>
    fetch(`${url}/tokens/zone`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });

  test('setup gets the store of the started control plane, and global issues', async (t) => {
    let seen: ControlPlaneContext | undefined;
    const cp = await start('global', (app, ctx) => {
      seen = ctx;
      serveZoneTokens(app, ctx);
    });
    t.after(() => cp.stop());
    assert.equal(seen?.store, cp.store);
    assert.equal(seen?.bus, cp.bus);
    assert.equal(seen?.log, cp.log);
    const res = await request(cp.url, { zone: 'zone-1', scope: ['zone'], validFor: '1h' });
    assert.equal(res.status, 200);
    const token = await res.text();
    assert.equal((await (await ZoneTokens.open(cp.store)).verify(token, { zone: 'zone-1', scope: 'zone' })).zone, 'zone-1');
  });

  test('a federated zone refuses and says where tokens come from', async (t) => {
    const cp = await start('zone', (app) => refuseZoneTokens(app));
    t.after(() => cp.stop());
    const res = await request(cp.url, { zone: 'zone-1', scope: ['zone'], validFor: '1h' });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { title: string; details: string };
    assert.equal(body.title, 'Not issued here');
    assert.match(body.details, /zone tokens are issued by the global control plane/);
    const names = (await cp.store.list('GlobalSecret')).items.map((s) => s.name);
    assert.ok(!names.includes('zone-token-signing-key'), `no zone-token signing key is made where none is used: ${names.join(', ')}`);
  });
});
