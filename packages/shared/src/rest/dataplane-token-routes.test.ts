// POST /tokens/dataplane through the API server in process.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { DataplaneTokens } from '../auth/dataplane-token.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { MemoryStore } from '../store/memory-store.js';
import { createLogger } from '../telemetry/logger.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { buildApiServer } from './api-server.js';
import { serveDataplaneTokens } from './dataplane-token-routes.js';

const quiet = () => createLogger({ component: 'test', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

describe('POST /tokens/dataplane', () => {
  const store = new MemoryStore(new InProcessEventBus());
  const log = quiet();
  const telemetry = new Telemetry({ service: 'test' });
  const app = buildApiServer({ mode: 'standalone', store, log, telemetry, extraRoutes: (a) => serveDataplaneTokens(a, { store, log }) });
  after(async () => {
    await app.close();
    await telemetry.shutdown();
  });
  const post = (payload: string, contentType = 'application/json') =>
    app.inject({ method: 'POST', url: '/tokens/dataplane', payload, headers: { 'content-type': contentType } });

  test('answers a token as text that verifies with the key in the store', async () => {
    const res = await post(JSON.stringify({ mesh: 'default', name: 'web-1', tags: { 'kuma.io/service': 'web' }, validFor: '24h' }));
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.equal(res.headers['cache-control'], 'no-store');
    const v = await (await DataplaneTokens.open(store)).verify(res.body, { mesh: 'default', name: 'web-1' });
    assert.deepEqual(v.tags, { 'kuma.io/service': 'web' });
    assert.equal(v.expiresAt.getTime() - v.issuedAt.getTime(), 24 * 3_600_000);
  });

  test('takes YAML like every other body; tags are optional', async () => {
    const res = await post('mesh: default\nname: backend\nvalidFor: 30d\n', 'application/yaml');
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual((await (await DataplaneTokens.open(store)).verify(res.body, { mesh: 'default', name: 'backend' })).tags, {});
  });

  const BAD: [string, unknown, string[]][] = [
    ['empty object', {}, ['mesh: is required', 'name: is required', 'validFor: is required']],
    ['bad mesh and name', { mesh: 'My.Mesh', name: 'Web 1', validFor: '1h' }, [
      "mesh: invalid characters: use lowercase letters, digits, '-' and '_'",
      "name: invalid characters: use lowercase letters, digits, '-', '_' and '.'",
    ]],
    ['mesh not a string', { mesh: 7, name: 'web', validFor: '1h' }, ['mesh: must be a string']],
    ['tags not an object', { mesh: 'default', name: 'web', tags: ['a'], validFor: '1h' }, ['tags: must be an object of tag names to values']],
    ['bad tags', { mesh: 'default', name: 'web', tags: { 'bad key': 'v', version: '', n: 1 }, validFor: '1h' }, [
      "tags.bad key: tag keys use letters, digits and '.', '_', ':', '/', '-'",
      'tags.version: tag value must not be empty',
      'tags.n: must be a string',
    ]],
    ['not a duration', { mesh: 'default', name: 'web', validFor: '1 hour' }, ['validFor: must be a duration such as 500ms, 10s, 5m, 1h']],
    ['zero duration', { mesh: 'default', name: 'web', validFor: '0s' }, ['validFor: must be positive']],
    ['over ten years', { mesh: 'default', name: 'web', validFor: '3651d' }, ['validFor: must be at most 10y (87600h)']],
    ['unknown fields', { mesh: 'default', name: 'web', validFor: '1h', type: 'dataplane', zone: 'z' }, [
      'type: unknown field "type": use mesh, name, tags and validFor',
      'zone: unknown field "zone": use mesh, name, tags and validFor',
    ]],
    ['not an object', [1], [': the body must be a JSON object with mesh, name, tags and validFor']],
  ];
  for (const [name, body, causes] of BAD) {
    test(`400 with the field of each problem: ${name}`, async () => {
      const res = await post(JSON.stringify(body));
      assert.equal(res.statusCode, 400, res.body);
      const answer = res.json() as { title: string; details: string; causes: { field: string; message: string }[] };
      assert.equal(answer.title, 'Invalid request');
      assert.equal(answer.details, 'the dataplane token request is invalid');
      assert.deepEqual(answer.causes.map((c) => `${c.field}: ${c.message}`), causes);
    });
  }

  test('a body that is not JSON is a 400 too', async () => {
    const res = await post('{"mesh": ');
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().title, 'Malformed body');
  });

  test('ten years exactly is allowed', async () => {
    assert.equal((await post(JSON.stringify({ mesh: 'default', name: 'web', validFor: '87600h' }))).statusCode, 200);
  });
});
