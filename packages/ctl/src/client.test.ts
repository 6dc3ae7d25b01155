import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { findByKind, type AnyDescriptor } from '@meshfed/shared/resources';
import { ControlPlaneClient, networkReason, resourcePath } from './client.js';
import { ApiResponseError, ProtocolError, TimeoutError, UnreachableError } from './errors.js';
import { fakeControlPlane } from './testing/fakes.js';

const desc = (kind: string): AnyDescriptor => {
  const d = findByKind(kind);
  assert.ok(d);
  return d;
};

describe('resourcePath', () => {
  it('follows Kuma paths for global- and mesh-scoped types', () => {
    assert.equal(resourcePath(desc('Mesh')), '/meshes');
    assert.equal(resourcePath(desc('Mesh'), { name: 'default' }), '/meshes/default');
    assert.equal(resourcePath(desc('ZoneEgress'), { name: 'ze' }), '/zoneegresses/ze');
    assert.equal(resourcePath(desc('Dataplane'), { mesh: 'default' }), '/meshes/default/dataplanes');
    assert.equal(resourcePath(desc('Dataplane'), { mesh: 'default', name: 'dp-1' }), '/meshes/default/dataplanes/dp-1');
    assert.equal(resourcePath(desc('Dataplane')), '/dataplanes');
    assert.equal(resourcePath(desc('ExternalService'), { mesh: 'm', name: 'a b' }), '/meshes/m/external-services/a%20b');
  });
});

describe('ControlPlaneClient', () => {
  it('follows next links until the last page', async () => {
    const cp = fakeControlPlane({ pageSize: 2 });
    const client = new ControlPlaneClient(cp.base, { fetch: cp.fetch });
    for (let i = 0; i < 5; i++) await client.put(desc('Dataplane'), { name: `dp-${i}`, mesh: 'default' }, { type: 'Dataplane', mesh: 'default', name: `dp-${i}` });
    await client.put(desc('Dataplane'), { name: 'other', mesh: 'demo' }, { type: 'Dataplane', mesh: 'demo', name: 'other' });
    const items = await client.list(desc('Dataplane'), 'default');
    assert.deepEqual(items.map((r) => r.name), ['dp-0', 'dp-1', 'dp-2', 'dp-3', 'dp-4']);
    assert.equal(cp.requests.filter((r) => r.method === 'GET').length, 3);
    assert.equal((await client.list(desc('Dataplane'))).length, 6);
  });

  it('keeps a path prefix of the control plane URL', async () => {
    const cp = fakeControlPlane();
    const client = new ControlPlaneClient('http://cp.test:5681/api/', { fetch: cp.fetch });
    await assert.rejects(client.list(desc('Mesh')));
    assert.equal(cp.requests[0]?.url, 'http://cp.test:5681/api/meshes');
  });

  it('tells created from updated and sends JSON', async () => {
    const cp = fakeControlPlane();
    const client = new ControlPlaneClient(cp.base, { fetch: cp.fetch });
    const body = { type: 'Mesh', name: 'default' };
    assert.equal(await client.put(desc('Mesh'), { name: 'default' }, body), 'created');
    assert.equal(await client.put(desc('Mesh'), { name: 'default' }, body, { ifMatch: '1' }), 'updated');
    const last = cp.requests.at(-1);
    assert.equal(last?.method, 'PUT');
    assert.equal(last?.url, `${cp.base}/meshes/default`);
    assert.equal(last?.headers['content-type'], 'application/json');
    assert.equal(last?.headers['if-match'], '"1"');
    assert.deepEqual(last?.body, body);
  });

  it('turns error bodies into ApiResponseError with the subject', async () => {
    const cp = fakeControlPlane({
      validate: () => ({ status: 400, body: { title: 'Invalid resource', details: 'bad', causes: [{ field: 'networking.address', message: 'is required' }] } }),
    });
    const client = new ControlPlaneClient(cp.base, { fetch: cp.fetch });
    await assert.rejects(client.put(desc('Dataplane'), { name: 'dp', mesh: 'default' }, { type: 'Dataplane', name: 'dp' }), (e: unknown) => {
      assert.ok(e instanceof ApiResponseError);
      assert.equal(e.status, 400);
      assert.equal(e.subject, 'Dataplane "dp" in mesh "default"');
      assert.deepEqual(e.causes, [{ field: 'networking.address', message: 'is required' }]);
      return true;
    });
    await assert.rejects(client.get(desc('Mesh'), 'nope'), (e: unknown) => e instanceof ApiResponseError && e.status === 404 && e.subject === 'Mesh "nope"');
    await assert.rejects(client.delete(desc('Mesh'), 'nope'), (e: unknown) => e instanceof ApiResponseError && e.status === 404);
  });

  it('keeps a non-JSON error body as details', async () => {
    const f: typeof fetch = async () => new Response('<html>bad gateway</html>', { status: 502, headers: { 'content-type': 'text/html' } });
    const client = new ControlPlaneClient('http://cp.test', { fetch: f });
    await assert.rejects(client.list(desc('Mesh')), (e: unknown) => e instanceof ApiResponseError && e.status === 502 && e.title === 'HTTP 502' && e.details === '<html>bad gateway</html>');
  });

  it('rejects a success that is not a meshfed answer', async () => {
    const html: typeof fetch = async () => new Response('<html></html>', { status: 200, headers: { 'content-type': 'text/html' } });
    await assert.rejects(new ControlPlaneClient('http://cp.test', { fetch: html }).list(desc('Mesh')), (e: unknown) => e instanceof ProtocolError && /returned text\/html, not JSON/.test(e.message));
    const odd: typeof fetch = async () => Response.json({ items: 'no' });
    await assert.rejects(new ControlPlaneClient('http://cp.test', { fetch: odd }).list(desc('Mesh')), ProtocolError);
    const loop: typeof fetch = async () => Response.json({ total: 1, items: [], next: 'http://cp.test/meshes' });
    await assert.rejects(new ControlPlaneClient('http://cp.test', { fetch: loop }).list(desc('Mesh')), /same page/);
  });

  it('reports a refused connection as unreachable', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const url = `http://127.0.0.1:${address.port}`;
    await assert.rejects(new ControlPlaneClient(url).list(desc('Mesh')), (e: unknown) => {
      assert.ok(e instanceof UnreachableError);
      assert.equal(e.reason, 'connect ECONNREFUSED');
      assert.equal(e.cpUrl, url);
      return true;
    });
  });

  it('gives up after the timeout', async () => {
    const hang: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    // AbortSignal.timeout's timer does not hold the event loop open; a real socket would.
    const keepAlive = setTimeout(() => {}, 5000);
    try {
      await assert.rejects(new ControlPlaneClient('http://cp.test', { fetch: hang, timeoutMs: 50 }).list(desc('Mesh')), TimeoutError);
    } finally {
      clearTimeout(keepAlive);
    }
  });
});

describe('networkReason', () => {
  it('finds syscall and code in fetch causes, aggregate errors included', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', syscall: 'connect' });
    assert.equal(networkReason(new TypeError('fetch failed', { cause: refused })), 'connect ECONNREFUSED');
    const aggregate = Object.assign(new AggregateError([refused], ''), { code: 'ECONNREFUSED' });
    assert.equal(networkReason(new TypeError('fetch failed', { cause: aggregate })), 'connect ECONNREFUSED');
    assert.equal(networkReason(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }) })), 'UND_ERR_SOCKET');
    assert.equal(networkReason(new TypeError('fetch failed')), 'fetch failed');
  });
});
