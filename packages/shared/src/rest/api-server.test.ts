import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import type { CpMode } from '../resources/ownership.js';
import { MemoryStore } from '../store/memory-store.js';
import { instrumentStore } from '../telemetry/instrumented-store.js';
import { createLogger } from '../telemetry/logger.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { buildApiServer } from './api-server.js';

const quiet = new Writable({ write: (_c, _e, cb) => cb() });

function server(mode: CpMode) {
  const bus = new InProcessEventBus();
  const telemetry = new Telemetry({ service: 'test' });
  const store = instrumentStore(new MemoryStore(bus), telemetry);
  const app = buildApiServer({ mode, store, telemetry, log: createLogger({ component: 'test', destination: quiet }) });
  return { app, store, bus, telemetry };
}

const dp = (name: string, port = 8080) => ({
  type: 'Dataplane', mesh: 'default', name,
  networking: { address: '10.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': 'backend' } }] },
});

async function put(app: FastifyInstance, url: string, body: unknown, headers: Record<string, string> = {}) {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return app.inject({ method: 'PUT', url, payload, headers: { 'content-type': 'application/json', ...headers } });
}

describe('REST API on a standalone zone', () => {
  const { app, telemetry } = server('standalone');
  after(() => app.close());

  test('index says what answers', async () => {
    const res = await app.inject('/');
    assert.equal(res.statusCode, 200);
    assert.deepEqual({ ...res.json(), version: 'x' }, { product: 'meshfed', version: 'x', mode: 'standalone' });
  });

  test('create, read, update with If-Match, list, delete', async () => {
    assert.equal((await put(app, '/meshes/default', { type: 'Mesh', name: 'default' })).statusCode, 201);
    const created = await put(app, '/meshes/default/dataplanes/dp-1', dp('dp-1'));
    assert.equal(created.statusCode, 201);
    const etag = created.headers.etag as string;
    assert.match(etag, /^"\d+"$/);
    const body = created.json();
    assert.equal(body.name, 'dp-1');
    assert.equal(body.mesh, 'default');
    assert.ok(body.creationTime && body.modificationTime);
    assert.deepEqual(body.labels, {});

    const updated = await put(app, '/meshes/default/dataplanes/dp-1', dp('dp-1', 9090), { 'if-match': etag });
    assert.equal(updated.statusCode, 200);
    assert.equal(updated.json().networking.inbound[0].port, 9090);
    assert.equal(updated.json().creationTime, body.creationTime);

    const stale = await put(app, '/meshes/default/dataplanes/dp-1', dp('dp-1', 7070), { 'if-match': etag });
    assert.equal(stale.statusCode, 409);
    assert.equal(stale.json().title, 'Version conflict');
    assert.equal((await app.inject('/meshes/default/dataplanes/dp-1')).json().networking.inbound[0].port, 9090, 'stale write changed nothing');

    const got = await app.inject('/meshes/default/dataplanes/dp-1');
    assert.equal(got.statusCode, 200);
    assert.equal(got.headers.etag, updated.headers.etag);

    const list = (await app.inject('/meshes/default/dataplanes')).json();
    assert.equal(list.total, 1);
    assert.equal(list.next, null);
    assert.equal((await app.inject('/dataplanes')).json().total, 1, 'cross-mesh listing');

    assert.equal((await app.inject({ method: 'DELETE', url: '/meshes/default/dataplanes/dp-1' })).statusCode, 200);
    const gone = await app.inject('/meshes/default/dataplanes/dp-1');
    assert.equal(gone.statusCode, 404);
    assert.match(gone.json().details, /Dataplane "dp-1" in mesh "default" does not exist/);
  });

  test('paging follows next links with a stable order', async () => {
    for (let i = 0; i < 7; i++) assert.equal((await put(app, `/meshes/m${i}`, { type: 'Mesh', name: `m${i}` })).statusCode, 201);
    const names: string[] = [];
    let url: string | null = '/meshes?size=3';
    let pages = 0;
    while (url && pages < 10) {
      const page: { items: { name: string }[]; next: string | null; total: number } = (await app.inject(url)).json();
      names.push(...page.items.map((i) => i.name));
      url = page.next ? new URL(page.next).pathname + new URL(page.next).search : null;
      pages++;
    }
    assert.deepEqual(names, [...names].sort());
    assert.ok(names.includes('m0') && names.includes('m6'));
    assert.equal(new Set(names).size, names.length);
    const bad = await app.inject('/meshes?size=0');
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().causes[0].field, 'size');
  });

  test('PUT takes YAML', async () => {
    const yaml = 'type: Mesh\nname: yaml-mesh\nrouting:\n  localityAwareLoadBalancing: true\n';
    const res = await put(app, '/meshes/yaml-mesh', yaml, { 'content-type': 'application/yaml' });
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().routing.localityAwareLoadBalancing, true);
  });

  const bad: [string, string, string, unknown, string | undefined, number, RegExp, string?][] = [
    ['malformed JSON', '/meshes/default/dataplanes/x', 'application/json', '{"type": "Dataplane",', undefined, 400, /not valid JSON/],
    ['malformed YAML', '/meshes/default/dataplanes/x', 'application/yaml', 'type: Dataplane\nname: [x\n', undefined, 400, /not valid YAML at line \d+/],
    ['unknown type in body', '/meshes/default/dataplanes/x', 'application/json', { type: 'Foo', name: 'x' }, undefined, 400, /unknown type "Foo"/, 'type'],
    ['unknown type in path', '/meshes/default/foos/x', 'application/json', { type: 'Foo', name: 'x' }, undefined, 404, /unknown resource type "foos"/],
    ['type does not match path', '/meshes/default/dataplanes/x', 'application/json', { type: 'MeshGateway', name: 'x', mesh: 'default' }, undefined, 400, /cannot be written at the path of Dataplane/, 'type'],
    ['invalid name', '/meshes/default/dataplanes/Bad_Name!', 'application/json', { ...dp('Bad_Name!') }, undefined, 400, /invalid characters/, 'name'],
    ['name differs from path', '/meshes/default/dataplanes/a', 'application/json', dp('b'), undefined, 400, /must match the name in the path/, 'name'],
    ['missing field', '/meshes/default/dataplanes/x', 'application/json', { type: 'Dataplane', name: 'x', mesh: 'default', networking: { inbound: [{ port: 1, tags: { 'kuma.io/service': 's' } }] } }, undefined, 400, /is required/, 'networking.address'],
    ['value out of range', '/meshes/default/dataplanes/x', 'application/json', dp('x', 70000), undefined, 400, /1-65535/, 'networking.inbound[0].port'],
    ['wrong type of value', '/meshes/default/dataplanes/x', 'application/json', { ...dp('x'), networking: { address: 5, inbound: [] } }, undefined, 400, /must be a string/, 'networking.address'],
    ['unknown field', '/meshes/default/dataplanes/x', 'application/json', { ...dp('x'), color: 'blue' }, undefined, 400, /unknown field "color"/, 'color'],
    ['mesh that does not exist', '/meshes/nope/dataplanes/x', 'application/json', { ...dp('x'), mesh: 'nope' }, undefined, 400, /mesh "nope" does not exist/, 'mesh'],
    ['zone egress without mTLS', '/meshes/default', 'application/json', { type: 'Mesh', name: 'default', routing: { zoneEgress: true } }, undefined, 400, /requires mTLS/, 'routing.zoneEgress'],
    ['TCP route with matches', '/meshes/default/meshgatewayroutes/r', 'application/json', { type: 'MeshGatewayRoute', mesh: 'default', name: 'r', selectors: [{ match: { 'kuma.io/service': 'g' } }], conf: { tcp: { rules: [{ matches: [{ path: { match: 'PREFIX', value: '/' } }], backends: [{ destination: { 'kuma.io/service': 'a' } }] }] } } }, undefined, 400, /TCP rules take only backends/, 'conf.tcp.rules[0].matches'],
    ['gateway route prefix ending in /', '/meshes/default/meshgatewayroutes/r', 'application/json', { type: 'MeshGatewayRoute', mesh: 'default', name: 'r', selectors: [{ match: { 'kuma.io/service': 'g' } }], conf: { http: { rules: [{ matches: [{ path: { match: 'PREFIX', value: '/api/' } }], backends: [{ destination: { 'kuma.io/service': 'a' } }] }] } } }, undefined, 400, /must not end with/, 'conf.http.rules[0].matches[0].path.value'],
    ['gateway route regex RE2 cannot run', '/meshes/default/meshgatewayroutes/r', 'application/json', { type: 'MeshGatewayRoute', mesh: 'default', name: 'r', selectors: [{ match: { 'kuma.io/service': 'g' } }], conf: { http: { rules: [{ matches: [{ headers: [{ match: 'REGEX', name: 'x-user', value: '(?=admin)' }] }], backends: [{ destination: { 'kuma.io/service': 'a' } }] }] } } }, undefined, 400, /lookaround/, 'conf.http.rules[0].matches[0].headers[0].value'],
    ['cross-mesh listener with two selectors', '/meshes/default/meshgateways/g', 'application/json', { type: 'MeshGateway', mesh: 'default', name: 'g', selectors: [{ match: { a: 'b' } }, { match: { c: 'd' } }], conf: { listeners: [{ port: 8080, protocol: 'HTTP', crossMesh: true }] } }, undefined, 400, /exactly one selector/, 'selectors'],
    ['ZoneInsight is read-only', '/zone-insights/z', 'application/json', { type: 'ZoneInsight', name: 'z' }, undefined, 400, /maintained by the control plane/],
    ['stale If-Match on create', '/meshes/default/dataplanes/never', 'application/json', dp('never'), '"999999"', 404, /does not exist/],
  ];
  for (const [what, url, ct, body, ifMatch, status, details, field] of bad) {
    test(`bad input: ${what} → ${status}`, async () => {
      const before = (await app.inject(url.replace(/\/[^/]+$/, ''))).json();
      const res = await put(app, url, body, { 'content-type': ct, ...(ifMatch ? { 'if-match': ifMatch } : {}) });
      assert.equal(res.statusCode, status, res.body);
      const b = res.json();
      assert.ok(typeof b.title === 'string' && Array.isArray(b.causes), res.body);
      assert.match(b.details, details);
      if (field) assert.ok(b.causes.some((c: { field: string }) => c.field === field), `expected a cause for ${field}: ${res.body}`);
      assert.deepEqual((await app.inject(url.replace(/\/[^/]+$/, ''))).json().total, before.total, 'nothing written');
    });
  }

  test('a body over 1 MiB is refused with 413', async () => {
    const big = { ...dp('big'), labels: { pad: 'x' }, padding: 'x'.repeat(1024 * 1024) };
    const res = await put(app, '/meshes/default/dataplanes/big', big);
    assert.equal(res.statusCode, 413);
    assert.match(res.json().details, /1 MiB/);
    assert.equal((await app.inject('/meshes/default/dataplanes/big')).statusCode, 404);
  });

  test('unsupported content type is 415', async () => {
    const res = await put(app, '/meshes/default', 'type=Mesh', { 'content-type': 'text/plain' });
    assert.equal(res.statusCode, 415);
  });

  test('unknown path is 404 with the error body', async () => {
    const res = await app.inject('/nowhere/at/all/really');
    assert.equal(res.statusCode, 404);
    assert.match(res.json().details, /no API path/);
  });

  test('mesh deletion takes its resources along', async () => {
    await put(app, '/meshes/doomed', { type: 'Mesh', name: 'doomed' });
    await put(app, '/meshes/doomed/dataplanes/d1', { ...dp('d1'), mesh: 'doomed' });
    await app.inject({ method: 'DELETE', url: '/meshes/doomed' });
    assert.equal((await app.inject('/meshes/doomed/dataplanes')).json().total, 0);
  });

  test('metrics count requests and store operations; store writes leave spans', async () => {
    const text = (await app.inject('/metrics')).body;
    assert.match(text, /meshfed_http_requests_total\{[^}]*method="PUT"[^}]*\} \d+/);
    assert.match(text, /meshfed_http_request_duration_seconds_bucket/);
    assert.match(text, /meshfed_store_operation_duration_seconds_count\{[^}]*op="commit"[^}]*\} \d+/);
    assert.ok(telemetry.spans.list().some((s) => s.name === 'store.commit' && String(s.attributes['meshfed.resource']).includes('Dataplane')));
  });

  test('ready reflects the store', async () => {
    assert.deepEqual((await app.inject('/ready')).json(), { ready: true });
  });
});

describe('ownership of writes', () => {
  test('global refuses zone-owned types', async () => {
    const { app } = server('global');
    await put(app, '/meshes/default', { type: 'Mesh', name: 'default' });
    for (const [url, body] of [
      ['/meshes/default/dataplanes/dp-1', dp('dp-1')],
      ['/zoneegresses/eg', { type: 'ZoneEgress', name: 'eg', networking: { address: '10.0.0.9', port: 10002 } }],
      ['/zoneingresses/ig', { type: 'ZoneIngress', name: 'ig', networking: { port: 10001 } }],
    ] as const) {
      const res = await put(app, url, body);
      assert.equal(res.statusCode, 400);
      assert.match(res.json().details, /owned by zones: apply it on the zone control plane/);
    }
    assert.equal((await put(app, '/meshes/default/meshtrafficpermissions/allow', { type: 'MeshTrafficPermission', mesh: 'default', name: 'allow', spec: { targetRef: { kind: 'Mesh' }, from: [{ targetRef: { kind: 'Mesh' }, default: { action: 'Allow' } }] } })).statusCode, 201);
    await app.close();
  });

  test('a federated zone refuses global-owned types and accepts its own', async () => {
    const { app, store } = server('zone');
    await store.commit([{ op: 'put', resource: { type: 'Mesh', name: 'default', labels: {}, spec: {} } }]);
    const res = await put(app, '/meshes/default', { type: 'Mesh', name: 'default' });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().details, /must be applied on the global control plane/);
    assert.equal((await put(app, '/meshes/default/external-services/httpbin', { type: 'ExternalService', mesh: 'default', name: 'httpbin', tags: { 'kuma.io/service': 'httpbin' }, networking: { address: 'httpbin.org:443' } })).statusCode, 400);
    assert.equal((await put(app, '/meshes/default/dataplanes/dp-1', dp('dp-1'))).statusCode, 201);
    await app.close();
  });
});

test('internal types such as the token signing key are not served by the API', async () => {
  const { app, store } = server('global');
  await store.commit([{ op: 'put', resource: { type: 'GlobalSecret', name: 'zone-token-signing-key', labels: {}, spec: { data: 'c2VjcmV0' } } }]);
  for (const url of ['/global-secrets', '/global-secrets/zone-token-signing-key']) {
    const res = await app.inject(url);
    assert.equal(res.statusCode, 404, url);
    assert.match(res.json().details, /internal to the control plane/);
    assert.doesNotMatch(res.body, /c2VjcmV0/);
  }
  await app.close();
});
