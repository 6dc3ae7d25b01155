import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { MAX_NAME_LENGTH } from '../resources/meta.js';
import { MemoryStore } from '../store/memory-store.js';
import { createLogger } from '../telemetry/logger.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { buildApiServer } from './api-server.js';
import { MAX_PATH_SEGMENT } from './error-handler.js';

// What a user meets at the edges of the REST paths: long names, URLs the HTTP layer refuses, and the
// plural MeshLoadBalancingStrategy had before it took Kuma's.

const quiet = new Writable({ write: (_c, _e, cb) => cb() });

function server() {
  const store = new MemoryStore(new InProcessEventBus());
  return buildApiServer({ mode: 'standalone', store, telemetry: new Telemetry({ service: 'test' }), log: createLogger({ component: 'test', destination: quiet }) });
}

async function put(app: FastifyInstance, url: string, body: unknown) {
  return app.inject({ method: 'PUT', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
}

const dp = (mesh: string, name: string) => ({
  type: 'Dataplane', mesh, name,
  networking: { address: '10.0.0.1', inbound: [{ port: 8080, tags: { 'kuma.io/service': 'backend' } }] },
});

/** meshfed's error body and nothing of fastify's own (`statusCode`, `code`, `error`, `message`). */
function assertApiError(status: number, res: { statusCode: number; headers: Record<string, unknown>; body: string }) {
  assert.equal(res.statusCode, status, res.body.slice(0, 300));
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const b = JSON.parse(res.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(b).sort(), ['causes', 'details', 'title'], res.body.slice(0, 300));
  assert.ok(typeof b.title === 'string' && typeof b.details === 'string' && Array.isArray(b.causes));
  return b as { title: string; details: string; causes: { field: string; message: string }[] };
}

function assertNameTooLong(res: LightMyRequestResponse) {
  const b = assertApiError(400, res);
  assert.deepEqual(b.causes.map((c) => c.field), ['name'], res.body);
  assert.match(b.causes[0]!.message, new RegExp(`at most ${MAX_NAME_LENGTH} characters`));
}

describe('names as long as a resource allows, in every REST path', () => {
  const app = server();
  const mesh = 'm'.repeat(63); // the longest mesh name
  const longest = 'n'.repeat(MAX_NAME_LENGTH);
  const tooLong = 'n'.repeat(MAX_NAME_LENGTH + 1);
  before(async () => assert.equal((await put(app, `/meshes/${mesh}`, { type: 'Mesh', name: mesh })).statusCode, 201));
  after(() => app.close());

  test(`a ${MAX_NAME_LENGTH}-character name round-trips PUT, GET, list and DELETE on a mesh-scoped path`, async () => {
    const url = `/meshes/${mesh}/dataplanes/${longest}`;
    const created = await put(app, url, dp(mesh, longest));
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.json().name, longest);
    const got = await app.inject(url);
    assert.equal(got.statusCode, 200, got.body);
    assert.equal(got.json().name, longest);
    assert.deepEqual((await app.inject(`/meshes/${mesh}/dataplanes`)).json().items.map((i: { name: string }) => i.name), [longest]);
    assert.equal((await app.inject({ method: 'DELETE', url })).statusCode, 200);
    assert.equal((await app.inject(url)).statusCode, 404);
  });

  test(`a ${MAX_NAME_LENGTH}-character name round-trips PUT, GET and DELETE on a global-scoped path`, async () => {
    const url = `/zones/${longest}`;
    assert.equal((await put(app, url, { type: 'Zone', name: longest })).statusCode, 201);
    const got = await app.inject(url);
    assert.equal(got.statusCode, 200, got.body);
    assert.equal(got.json().name, longest);
    assert.equal((await app.inject({ method: 'DELETE', url })).statusCode, 200);
    assert.equal((await app.inject(url)).statusCode, 404);
  });

  test(`a ${MAX_NAME_LENGTH + 1}-character name is refused on name, in the path as in the body`, async () => {
    const url = `/meshes/${mesh}/dataplanes/${tooLong}`;
    assertNameTooLong(await put(app, url, dp(mesh, tooLong)));
    assertNameTooLong(await put(app, `/meshes/${mesh}/dataplanes/short`, dp(mesh, tooLong)));
    assertNameTooLong(await put(app, `/zones/${tooLong}`, { type: 'Zone', name: tooLong }));
    assertNameTooLong(await app.inject(url));
    assertNameTooLong(await app.inject({ method: 'DELETE', url }));
    assertNameTooLong(await app.inject(`/zones/${tooLong}`));
    assertNameTooLong(await app.inject({ method: 'DELETE', url: `/zones/${tooLong}` }));
  });

  test('a mesh name over its own limit is refused on name', async () => {
    const b = assertApiError(400, await put(app, `/meshes/${'m'.repeat(64)}`, { type: 'Mesh' }));
    assert.deepEqual(b.causes.map((c) => c.field), ['name']);
    assert.match(b.causes[0]!.message, /at most 63 characters/);
  });

  test('a name of 10,000 characters gets the same answer, not the router\'s', async () => {
    const huge = 'n'.repeat(10_000);
    assertNameTooLong(await app.inject(`/meshes/${mesh}/dataplanes/${huge}`));
    assertNameTooLong(await put(app, `/meshes/${mesh}/dataplanes/${huge}`, dp(mesh, huge)));
    assertNameTooLong(await put(app, `/meshes/${huge}`, { type: 'Mesh' }));
  });

  test('a path segment longer than the server takes is 414 with the error body', async () => {
    const b = assertApiError(414, await app.inject(`/meshes/${mesh}/dataplanes/${'n'.repeat(MAX_PATH_SEGMENT + 1)}`));
    assert.match(b.details, new RegExp(`resource names are at most ${MAX_NAME_LENGTH}`));
  });
});

describe('what the HTTP layer refuses is answered with the error body', () => {
  const app = server();
  after(() => app.close());

  test('unknown routes and methods are 404', async () => {
    for (const [method, url] of [['GET', '/nowhere/at/all/really'], ['POST', '/meshes/default'], ['PATCH', '/meshes/default'], ['OPTIONS', '/meshes'], ['GET', '/meshes/default/dataplanes/x/y/z']] as const) {
      const b = assertApiError(404, await app.inject({ method, url }));
      assert.match(b.details, new RegExp(`no API path ${method} `), `${method} ${url}`);
    }
  });

  test('a broken percent-encoding in the path is 400', async () => {
    const b = assertApiError(400, await app.inject('/meshes/%E0%A4%A/dataplanes'));
    assert.equal(b.title, 'Malformed URL');
  });

  test('bad JSON is 400, a body too large 413, an unsupported media type 415', async () => {
    assertApiError(400, await app.inject({ method: 'PUT', url: '/meshes/x', payload: '{"type":', headers: { 'content-type': 'application/json' } }));
    assertApiError(400, await app.inject({ method: 'PUT', url: '/meshes/x', payload: '', headers: { 'content-type': 'application/json' } }));
    assertApiError(413, await app.inject({ method: 'PUT', url: '/meshes/x', payload: JSON.stringify({ type: 'Mesh', pad: 'x'.repeat(2 * 1024 * 1024) }), headers: { 'content-type': 'application/json' } }));
    assertApiError(415, await app.inject({ method: 'PUT', url: '/meshes/x', payload: 'type=Mesh', headers: { 'content-type': 'text/plain' } }));
  });

  describe('on a listening server, before fastify sees the request', () => {
    let port = 0;
    before(async () => {
      await app.listen({ port: 0, host: '127.0.0.1' });
      port = (app.server.address() as { port: number }).port;
    });

    // Raw bytes on a socket: fetch would refuse to send most of these.
    const raw = (request: string) =>
      new Promise<{ statusCode: number; headers: Record<string, string>; body: string }>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(request));
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => (text += d));
        socket.on('error', reject);
        socket.on('close', () => {
          const [head = '', body = ''] = text.split('\r\n\r\n');
          const [status, ...lines] = head.split('\r\n');
          const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
          resolve({ statusCode: Number(status?.split(' ')[1]), headers, body });
        });
      });

    test('a name of 10,000 characters reaches validation', async () => {
      const res = await raw(`GET /meshes/default/dataplanes/${'n'.repeat(10_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const b = assertApiError(400, res);
      assert.deepEqual(b.causes.map((c) => c.field), ['name']);
    });

    test('a URL longer than the request head may be is 431', async () => {
      const res = await raw(`GET /meshes/default/dataplanes/${'n'.repeat(MAX_PATH_SEGMENT + 1)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.match(assertApiError(431, res).details, new RegExp(`resource names are at most ${MAX_NAME_LENGTH}`));
    });

    test('a request that is not HTTP is 400', async () => {
      assertApiError(400, await raw('HELLO THERE\r\n\r\n'));
    });
  });
});

describe(`MeshLoadBalancingStrategy's plural`, () => {
  const app = server();
  const lb = (name: string) => ({
    type: 'MeshLoadBalancingStrategy', mesh: 'default', name,
    spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { loadBalancer: { type: 'RoundRobin' } } }] },
  });
  before(async () => assert.equal((await put(app, '/meshes/default', { type: 'Mesh', name: 'default' })).statusCode, 201));
  after(() => app.close());

  test(`is Kuma's meshloadbalancingstrategies, and the former meshloadbalancingstrategys still answers`, async () => {
    assert.equal((await put(app, '/meshes/default/meshloadbalancingstrategies/a', lb('a'))).statusCode, 201);
    assert.equal((await put(app, '/meshes/default/meshloadbalancingstrategys/b', lb('b'))).statusCode, 201);
    for (const plural of ['meshloadbalancingstrategies', 'meshloadbalancingstrategys']) {
      for (const name of ['a', 'b']) {
        const got = await app.inject(`/meshes/default/${plural}/${name}`);
        assert.equal(got.statusCode, 200, `${plural}/${name}: ${got.body}`);
        assert.equal(got.json().type, 'MeshLoadBalancingStrategy');
      }
      assert.equal((await app.inject(`/${plural}`)).json().total, 2, `cross-mesh list on /${plural}`);
    }
    assert.equal((await app.inject({ method: 'DELETE', url: '/meshes/default/meshloadbalancingstrategys/b' })).statusCode, 200);
    assert.equal((await app.inject('/meshes/default/meshloadbalancingstrategies/b')).statusCode, 404);
  });

  test('lists under either plural point onwards to the canonical one', async () => {
    assert.equal((await put(app, '/meshes/default/meshloadbalancingstrategies/c', lb('c'))).statusCode, 201);
    for (const plural of ['meshloadbalancingstrategies', 'meshloadbalancingstrategys']) {
      const page = (await app.inject(`/meshes/default/${plural}?size=1`)).json();
      assert.equal(page.total, 2);
      assert.equal(new URL(page.next).pathname, '/meshes/default/meshloadbalancingstrategies');
    }
  });

  test('an unknown type lists the canonical plural only', async () => {
    const b = assertApiError(404, await app.inject('/meshes/default/meshloadbalancingstrategy/a'));
    assert.match(b.details, /\bmeshloadbalancingstrategies\b/);
    assert.doesNotMatch(b.details, /meshloadbalancingstrategys/);
  });
});
