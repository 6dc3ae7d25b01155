import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import {
  buildApiServer,
  createLogger,
  DataplaneTokens,
  InProcessEventBus,
  MemoryStore,
  serveDataplaneTokens,
  serveZoneTokens,
  Telemetry,
  ZONE_TOKEN_SCOPES as SERVER_SCOPES,
  ZoneTokens,
} from '@meshfed/shared';
import { runCli, type CommandTable } from '../cli.js';
import { recordingIo, type RecordedRequest } from '../testing/fakes.js';
import { DEFAULT_DATAPLANE_TOKEN_VALIDITY, generateCommand, parseScopes, parseTags, ZONE_TOKEN_SCOPES } from './generate.js';

const COMMANDS: CommandTable = { generate: generateCommand };
const CP = 'http://cp.test:5681';
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJ6b25lIjoiem9uZS0xIn0.c2lnbmF0dXJl';

/** A control plane that answers POST /tokens/zone with `answer` and records what it was sent. */
function tokenEndpoint(answer: () => Response = () => new Response(TOKEN, { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' } })) {
  const requests: RecordedRequest[] = [];
  const fetchFn: typeof fetch = async (input, init) => {
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    requests.push({ method: init?.method ?? 'GET', url: String(input), headers, body: JSON.parse(String(init?.body)) as unknown });
    return answer();
  };
  return { fetch: fetchFn, requests };
}

async function run(args: readonly string[], fetchFn?: typeof fetch) {
  const io = recordingIo(fetchFn ? { fetch: fetchFn } : {});
  const code = await runCli(args, COMMANDS, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

describe('meshfed generate zone-token', () => {
  it('posts the request and prints the token with a newline', async () => {
    const cp = tokenEndpoint();
    const r = await run(['generate', 'zone-token', '--zone', 'zone-1', '--scope', 'zone', '--valid-for', '24h', '--cp', CP], cp.fetch);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `${TOKEN}\n`);
    assert.equal(r.err, '');
    assert.equal(cp.requests.length, 1);
    const [req] = cp.requests;
    assert.equal(req!.method, 'POST');
    assert.equal(req!.url, `${CP}/tokens/zone`);
    assert.equal(req!.headers['content-type'], 'application/json');
    assert.deepEqual(req!.body, { zone: 'zone-1', scope: ['zone'], validFor: '24h' });
  });

  it('takes --scope repeated and comma-separated, and defaults --valid-for to 720h', async () => {
    const cp = tokenEndpoint();
    const r = await run(['--cp', CP, 'generate', '--zone=zone-2', '--scope', 'zone,ingress', 'zone-token', '--scope', 'egress', '--scope', 'zone'], cp.fetch);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(cp.requests[0]!.body, { zone: 'zone-2', scope: ['zone', 'ingress', 'egress'], validFor: '720h' });
  });

  it('knows the scopes the control plane knows', () => {
    assert.deepEqual([...ZONE_TOKEN_SCOPES], [...SERVER_SCOPES]);
    assert.deepEqual(parseScopes(['zone, ingress', '', 'ingress']), ['zone', 'ingress']);
  });

  const USAGE: [string, string[], RegExp][] = [
    ['nothing to generate', ['generate'], /^Error: missing what to generate: zone-token, dataplane-token, user-token, kds-certs\n/],
    ['an unknown token', ['generate', 'dataplane-tokn'], /^Error: cannot generate "dataplane-tokn"; can generate: zone-token, dataplane-token, user-token, kds-certs\n/],
    ['no --zone', ['generate', 'zone-token', '--scope', 'zone'], /^Error: --zone is required/],
    ['a bad zone name', ['generate', 'zone-token', '--zone', 'Zone_1!', '--scope', 'zone'], /^Error: --zone "Zone_1!": invalid characters/],
    ['no --scope', ['generate', 'zone-token', '--zone', 'z'], /^Error: --scope is required: zone, ingress, egress/],
    ['an unknown scope', ['generate', 'zone-token', '--zone', 'z', '--scope', 'zone,admin'], /^Error: --scope "admin" is not one of zone, ingress, egress/],
    ['a bad --valid-for', ['generate', 'zone-token', '--zone', 'z', '--scope', 'zone', '--valid-for', '30 days'], /^Error: --valid-for "30 days" must be a positive duration/],
    ['a zero --valid-for', ['generate', 'zone-token', '--zone', 'z', '--scope', 'zone', '--valid-for', '0h'], /^Error: --valid-for "0h" must be a positive duration/],
    ['an extra argument', ['generate', 'zone-token', 'extra', '--zone', 'z', '--scope', 'zone'], /^Error: too many arguments: unexpected "extra"/],
  ];
  for (const [name, args, message] of USAGE) {
    it(`usage mistake, exit 2, nothing sent: ${name}`, async () => {
      const cp = tokenEndpoint();
      const r = await run([...args, '--cp', CP], cp.fetch);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
      assert.match(r.err, /Usage: meshfed generate zone-token/);
      assert.equal(r.out, '');
      assert.equal(cp.requests.length, 0);
    });
  }

  it('shows what the control plane refused, field by field', async () => {
    const cp = tokenEndpoint(() =>
      Response.json({ title: 'Invalid request', details: 'the zone token request is invalid', causes: [{ field: 'validFor', message: 'must be at most 10y (87600h)' }] }, { status: 400 }),
    );
    const r = await run(['generate', 'zone-token', '--zone', 'z', '--scope', 'zone', '--valid-for', '20y', '--cp', CP], cp.fetch);
    assert.equal(r.code, 1);
    assert.equal(r.err, 'Error: zone token for zone "z" is invalid (400)\n  validFor: must be at most 10y (87600h)\n');
    assert.equal(r.out, '');
  });

  it('says so when a federated zone is asked', async () => {
    const cp = tokenEndpoint(() =>
      Response.json({ title: 'Not issued here', details: 'zone tokens are issued by the global control plane: this zone is federated.', causes: [] }, { status: 400 }),
    );
    const r = await run(['generate', 'zone-token', '--zone', 'z', '--scope', 'zone', '--cp', CP], cp.fetch);
    assert.equal(r.code, 1);
    assert.match(r.err, /^Error: zone token for zone "z": not issued here \(400\)\n {2}zone tokens are issued by the global control plane/);
  });

  it('refuses an answer that is not a token', async () => {
    const cp = tokenEndpoint(() => new Response('<html>hello</html>', { status: 200, headers: { 'content-type': 'text/html' } }));
    const r = await run(['generate', 'zone-token', '--zone', 'z', '--scope', 'zone', '--cp', CP], cp.fetch);
    assert.equal(r.code, 1);
    assert.match(r.err, /returned text\/html that is not a token/);
    assert.equal(r.out, '');
  });

  it('help says what the defaults are', async () => {
    const r = await run(['generate', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, /--valid-for DURATION {2}how long the token is valid, such as 24h, 30d, 1y, at most 10y\n\s+\(default 720h for a zone token, 8760h \(one year\) for a dataplane token,\n\s+24h for a user token\)/);
    assert.match(r.out, /repeat it or separate with commas/);
  });
});

/**
 * An API server in this process with the given token routes, torn down after the suite, and the CLI's
 * fetch answered by it.
 */
function inProcessApi(mode: 'global' | 'standalone', routes: typeof serveZoneTokens | typeof serveDataplaneTokens) {
  const store = new MemoryStore(new InProcessEventBus());
  const log = createLogger({ component: 'test', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  const telemetry = new Telemetry({ service: 'test' });
  const app = buildApiServer({ mode, store, log, telemetry, extraRoutes: (a) => routes(a, { store, log }) });
  after(async () => {
    await app.close();
    await telemetry.shutdown();
  });
  const viaApp: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    const res = await app.inject({ method: 'POST', url: url.pathname, headers, payload: String(init?.body) });
    return new Response(res.body, { status: res.statusCode, headers: { 'content-type': String(res.headers['content-type']) } });
  };
  return { store, viaApp };
}

describe('meshfed generate zone-token against the real API', () => {
  const { store, viaApp } = inProcessApi('global', serveZoneTokens);

  it('prints a token that verifies for the zone and scopes asked', async () => {
    const r = await run(['generate', 'zone-token', '--zone', 'zone-1', '--scope', 'ingress,egress', '--valid-for', '1h', '--cp', CP], viaApp);
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.endsWith('\n'));
    const v = await (await ZoneTokens.open(store)).verify(r.out, { zone: 'zone-1', scope: 'egress' });
    assert.deepEqual(v.scopes, ['ingress', 'egress']);
    assert.equal(v.expiresAt.getTime() - v.issuedAt.getTime(), 3_600_000);
  });
});

describe('meshfed generate dataplane-token', () => {
  it('posts the request to the zone and prints the token with a newline', async () => {
    const cp = tokenEndpoint();
    const r = await run(['generate', 'dataplane-token', '--mesh', 'demo', '--name', 'web-1', '--tag', 'kuma.io/service=web', '--tag', 'version=v2,team=a', '--valid-for', '24h', '--cp', CP], cp.fetch);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `${TOKEN}\n`);
    assert.equal(r.err, '');
    const [req] = cp.requests;
    assert.equal(req!.method, 'POST');
    assert.equal(req!.url, `${CP}/tokens/dataplane`);
    assert.equal(req!.headers['content-type'], 'application/json');
    assert.deepEqual(req!.body, { mesh: 'demo', name: 'web-1', tags: { 'kuma.io/service': 'web', version: 'v2', team: 'a' }, validFor: '24h' });
  });

  it('defaults --mesh to "default" and --valid-for to 8760h, and sends no tags when none are given', async () => {
    const cp = tokenEndpoint();
    const r = await run(['generate', 'dataplane-token', '--name', 'web-1', '--cp', CP], cp.fetch);
    assert.equal(r.code, 0, r.err);
    assert.equal(DEFAULT_DATAPLANE_TOKEN_VALIDITY, '8760h');
    assert.deepEqual(cp.requests[0]!.body, { mesh: 'default', name: 'web-1', validFor: '8760h' });
  });

  it('parses tags: repeated, comma-separated, the same value twice is fine', () => {
    assert.deepEqual(parseTags(['a=1, b=2', '', 'a=1', ' kuma.io/zone = z-1 ']), { a: '1', b: '2', 'kuma.io/zone': 'z-1' });
    assert.deepEqual(parseTags(undefined), {});
  });

  const USAGE: [string, string[], RegExp][] = [
    ['no --name', ['generate', 'dataplane-token', '--mesh', 'default'], /^Error: --name is required: the name of the dataplane/],
    ['two --name', ['generate', 'dataplane-token', '--name', 'a', '--name', 'b'], /^Error: --name is given 2 times: a dataplane token is for one dataplane/],
    ['a bad --name', ['generate', 'dataplane-token', '--name', 'Web 1'], /^Error: --name "Web 1": invalid characters/],
    ['a bad --mesh', ['generate', 'dataplane-token', '--mesh', 'a.b', '--name', 'web'], /^Error: --mesh "a.b": invalid characters/],
    ['a tag without =', ['generate', 'dataplane-token', '--name', 'web', '--tag', 'version'], /^Error: --tag "version" must be KEY=VALUE, such as kuma.io\/service=web/],
    ['a tag without a key', ['generate', 'dataplane-token', '--name', 'web', '--tag', '=v1'], /^Error: --tag "=v1" must be KEY=VALUE/],
    ['an empty tag value', ['generate', 'dataplane-token', '--name', 'web', '--tag', 'version='], /^Error: --tag "version=": tag value must not be empty/],
    ['a bad tag key', ['generate', 'dataplane-token', '--name', 'web', '--tag', 'a b=c'], /^Error: --tag "a b=c": tag keys use letters/],
    ['a tag given twice', ['generate', 'dataplane-token', '--name', 'web', '--tag', 'v=1', '--tag', 'v=2'], /^Error: --tag "v" is given twice, as "1" and "2"/],
    ['a bad --valid-for', ['generate', 'dataplane-token', '--name', 'web', '--valid-for', 'forever'], /^Error: --valid-for "forever" must be a positive duration/],
  ];
  for (const [name, args, message] of USAGE) {
    it(`usage mistake, exit 2, nothing sent: ${name}`, async () => {
      const cp = tokenEndpoint();
      const r = await run([...args, '--cp', CP], cp.fetch);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
      assert.match(r.err, /Usage: meshfed generate zone-token\|dataplane-token\|user-token\|kds-certs/);
      assert.equal(r.out, '');
      assert.equal(cp.requests.length, 0);
    });
  }

  it('shows what the zone refused, field by field', async () => {
    const cp = tokenEndpoint(() =>
      Response.json({ title: 'Invalid request', details: 'the dataplane token request is invalid', causes: [{ field: 'validFor', message: 'must be at most 10y (87600h)' }] }, { status: 400 }),
    );
    const r = await run(['generate', 'dataplane-token', '--name', 'web', '--valid-for', '20y', '--cp', CP], cp.fetch);
    assert.equal(r.code, 1);
    assert.equal(r.err, 'Error: dataplane token for "default.web" is invalid (400)\n  validFor: must be at most 10y (87600h)\n');
    assert.equal(r.out, '');
  });

  it('help says where dataplane tokens come from and how long they last', async () => {
    const r = await run(['generate', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, /meshfed generate dataplane-token \[--mesh MESH\] --name NAME \[--tag KEY=VALUE \.\.\.\] \[--valid-for DURATION\]/);
    assert.match(r.out, /Issued by the zone control plane the proxy connects to/);
    assert.match(r.out, /--mesh MESH {11}dataplane-token: the mesh of the dataplane \(default "default"\)/);
  });
});

describe('meshfed generate dataplane-token against the real API', () => {
  const { store, viaApp } = inProcessApi('standalone', serveDataplaneTokens);

  it('prints a token that verifies for the dataplane asked, with its tags and a year of validity', async () => {
    const r = await run(['generate', 'dataplane-token', '--name', 'web-1', '--tag', 'kuma.io/service=web', '--cp', CP], viaApp);
    assert.equal(r.code, 0, r.err);
    const v = await (await DataplaneTokens.open(store)).verify(r.out, { mesh: 'default', name: 'web-1' });
    assert.deepEqual(v.tags, { 'kuma.io/service': 'web' });
    assert.equal(v.expiresAt.getTime() - v.issuedAt.getTime(), 8760 * 3_600_000);
  });
});

it('generate kds-certs writes a CA and a server certificate it signed, for the names given', async () => {
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { X509Certificate } = await import('node:crypto');
  const dir = mkdtempSync(join(tmpdir(), 'kds-certs-'));
  try {
    const r = await run(['generate', 'kds-certs', '--dir', dir, '--name', 'global,localhost', '--name', '127.0.0.1']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /wrote .*ca\.crt/);
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    const cert = new X509Certificate(readFileSync(join(dir, 'kds.crt')));
    assert.ok(cert.verify(ca.publicKey), 'signed by the CA');
    assert.ok(cert.checkHost('global') && cert.checkHost('localhost') && cert.checkIP('127.0.0.1'));
    assert.equal(cert.checkHost('elsewhere'), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
