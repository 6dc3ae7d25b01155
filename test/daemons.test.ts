import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { findByKind } from '@meshfed/shared/resources';
import { cleanups } from './support/cleanup.js';
import { createTestDatabase } from './support/postgres.js';
import { runToExit, startCp } from './support/processes.js';
import { TcpProxy } from './support/tcp-proxy.js';

const EXAMPLES = join(import.meta.dirname, '..', 'examples');

async function putYaml(url: string, path: string, yaml: string) {
  return fetch(`${url}${path}`, { method: 'PUT', body: yaml, headers: { 'content-type': 'application/yaml' } });
}

/** The REST path of a YAML document, from its type/name/mesh. */
function pathOf(doc: { type: string; name: string; mesh?: string }): string {
  const d = findByKind(doc.type);
  assert.ok(d, `unknown type ${doc.type}`);
  return doc.type === 'Mesh' ? `/meshes/${doc.name}` : d.scope === 'mesh' ? `/meshes/${doc.mesh ?? 'default'}/${d.plural}/${doc.name}` : `/${d.plural}/${doc.name}`;
}

async function exampleDocs(): Promise<{ file: string; yaml: string; doc: { type: string; name: string; mesh?: string } }[]> {
  const { parseAllDocuments } = await import('yaml');
  const out = [];
  for (const file of readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const d of parseAllDocuments(readFileSync(join(EXAMPLES, file), 'utf8'))) {
      out.push({ file, yaml: d.toString(), doc: d.toJS() as { type: string; name: string; mesh?: string } });
    }
  }
  return out;
}

describe('daemon start-up errors are one line', () => {
  test('unknown flag exits 2', async () => {
    const r = await runToExit('global', ['--nope', '1']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /^meshfed-global: unknown flag --nope/);
  });

  test('invalid value names the flag and the value', async () => {
    const r = await runToExit('zone', ['--api-port', 'abc']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^meshfed-zone: invalid --api-port "abc": must be a number\n$/);
  });

  test('environment variables are flags too, and say so when wrong', async () => {
    // Bounded: a daemon that took the value would otherwise run on, and the test with it.
    const bad = await runToExit('global', [], { env: { MESHFED_STORE: 'mongo' } }).then((r) => ({ code: r.code, err: r.stderr }));
    assert.equal(bad.code, 2);
    assert.match(bad.err, /invalid MESHFED_STORE "mongo": must be memory or postgres/);
  });

  test('--store postgres without a URL', async () => {
    const r = await runToExit('global', ['--store', 'postgres']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--postgres-url .* is required with --store postgres/);
  });

  test('Postgres unreachable at start: exit 1 with the reason in one line', async () => {
    const r = await runToExit('global', ['--store', 'postgres', '--postgres-url', 'postgres://postgres@127.0.0.1:1/test', '--api-port', '0']);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^meshfed-global: cannot start: .*127\.0\.0\.1:1.*ECONNREFUSED/);
  });

  test('a federated zone needs its name; a token file must be readable', async () => {
    let r = await runToExit('zone', ['--global-address', 'grpcs://127.0.0.1:5685']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--zone is required with --global-address/);
    r = await runToExit('zone', ['--zone', 'z', '--global-address', 'grpcs://127.0.0.1:5685', '--zone-token-file', '/nonexistent/token']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read --zone-token-file \/nonexistent\/token: ENOENT/);
    r = await runToExit('zone', ['--zone', 'z', '--global-address', 'grpcs://127.0.0.1:5685']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /a federated zone needs its zone token: --zone-token-file/);
    r = await runToExit('zone', ['--global-address', 'http://x:1', '--zone', 'z']);
    assert.match(r.stderr, /invalid --global-address "http:\/\/x:1": must be grpc:\/\/host:port or grpcs:\/\/host:port/);
  });
});

describe('a running global CP', () => {
  test('answers, serves metrics, and stops gracefully on SIGTERM', async () => {
    const cp = await startCp('global');
    try {
      const info = await (await fetch(`${cp.url}/`)).json();
      assert.equal(info.product, 'meshfed');
      assert.equal(info.mode, 'global');
      assert.equal((await fetch(`${cp.url}/meshes/default`)).status, 200, 'default mesh is created');
      assert.match(await (await fetch(`${cp.url}/metrics`)).text(), /meshfed_http_requests_total/);
      const line = cp.logs().split('\n').find((l) => l.includes('"api listening"'))!;
      const log = JSON.parse(line);
      assert.equal(log.component, 'global');
      assert.equal(log.level, 'info');
    } finally {
      assert.equal(await cp.stop(), 0);
    }
    assert.match(cp.logs(), /"msg":"stopped"/);
  });
});

describe('the examples apply as the documents show them', () => {
  test('on global (meshes, policies, gateways) and a standalone zone (proxies), memory store', async () => {
    const global = await startCp('global');
    const zone = await startCp('zone', ['--zone', 'zone-1']);
    try {
      for (const { file, yaml, doc } of await exampleDocs()) {
        const zoneOwned = findByKind(doc.type)?.owner === 'zone';
        const target = zoneOwned ? zone.url : global.url;
        const res = await putYaml(target, pathOf(doc), yaml);
        assert.ok(res.status === 200 || res.status === 201, `${file} ${doc.type} ${doc.name}: ${res.status} ${await res.text()}`);
        const back = await (await fetch(`${target}${pathOf(doc)}`)).json();
        assert.equal(back.type, doc.type);
        assert.equal(back.name, doc.name);
      }
      const egress = await (await fetch(`${zone.url}/zoneegresses/zoneegress-1`)).json();
      assert.equal(egress.zone, 'zone-1', 'the zone CP fills in the zone');
      const mesh = await (await fetch(`${global.url}/meshes/default`)).json();
      assert.equal(mesh.routing.zoneEgress, true);
    } finally {
      await Promise.all([global.stop(), zone.stop()]);
    }
  });

  test('a federated zone refuses global-owned types, pointing at the global CP', async () => {
    const zone = await startCp('zone', ['--zone', 'zone-1', '--global-address', 'grpc://127.0.0.1:1', '--zone-token', 'placeholder']);
    try {
      const res = await putYaml(zone.url, '/meshes/default', 'type: Mesh\nname: default\n');
      assert.equal(res.status, 400);
      assert.match((await res.json()).details, /must be applied on the global control plane/);
      assert.equal((await fetch(`${zone.url}/`).then((r) => r.json())).mode, 'zone');
    } finally {
      await zone.stop();
    }
  });
});

describe('global CP on Postgres', () => {
  test('what was acknowledged survives a restart', async () => {
    const db = await createTestDatabase();
    const args = ['--store', 'postgres', '--postgres-url', db.url];
    let cp = await startCp('global', args);
    const mesh = readFileSync(join(EXAMPLES, 'mesh-mtls-zoneegress.yaml'), 'utf8');
    assert.equal((await putYaml(cp.url, '/meshes/default', mesh)).status, 200);
    const gateway = readFileSync(join(EXAMPLES, 'gateway-http.yaml'), 'utf8').split(/^---$/m);
    assert.equal((await putYaml(cp.url, '/meshes/default/meshgateways/edge-gateway', gateway[0]!)).status, 201);
    const before = await (await fetch(`${cp.url}/meshes/default/meshgateways/edge-gateway`)).json();
    cp.kill();
    await new Promise((r) => cp.process.once('exit', r));
    cp = await startCp('global', args);
    const afterRestart = await fetch(`${cp.url}/meshes/default/meshgateways/edge-gateway`);
    assert.equal(afterRestart.status, 200);
    assert.deepEqual(await afterRestart.json(), before);
    assert.equal((await (await fetch(`${cp.url}/meshes/default`)).json()).mtls.enabledBackend, 'ca-1');
  });

  test('Postgres unreachable later: 503, not ready, and no partial write', async () => {
    const db = await createTestDatabase();
    const proxy = new TcpProxy(5432);
    cleanups.push(() => proxy.stop());
    await proxy.start();
    const url = new URL(db.url);
    url.port = String(proxy.port);
    const cp = await startCp('global', ['--store', 'postgres', '--postgres-url', url.toString()]);
    assert.equal((await fetch(`${cp.url}/ready`)).status, 200);

    await proxy.cut();
    const res = await putYaml(cp.url, '/meshes/lost', 'type: Mesh\nname: lost\n');
    assert.equal(res.status, 503, await res.clone().text());
    const body = await res.json();
    assert.equal(body.title, 'Store unavailable');
    assert.ok(Array.isArray(body.causes));
    assert.equal((await fetch(`${cp.url}/ready`)).status, 503);

    await proxy.restore();
    let ready = 0;
    for (let i = 0; i < 50 && ready !== 200; i++) {
      ready = (await fetch(`${cp.url}/ready`)).status;
      if (ready !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(ready, 200, 'recovers when Postgres is back');
    assert.equal((await fetch(`${cp.url}/meshes/lost`)).status, 404, 'the refused write left nothing behind');
    assert.equal((await putYaml(cp.url, '/meshes/found', 'type: Mesh\nname: found\n')).status, 201);
  });
});

test('compose lab: every meshfed service uses flags its daemon accepts', async () => {
  const { parse } = await import('yaml');
  const { parseFlags } = await import('@meshfed/shared');
  const { GlobalFlags } = await import('@meshfed/global');
  const { ZoneFlags } = await import('@meshfed/zone');
  const compose = parse(readFileSync(join(import.meta.dirname, '..', 'docker-compose.yml'), 'utf8')) as { services: Record<string, { command?: string[] }> };
  const seen: string[] = [];
  for (const [name, svc] of Object.entries(compose.services)) {
    const cmd = svc.command ?? [];
    const i = cmd.findIndex((c) => /packages\/(global|zone)\/dist\/main\.js$/.test(c));
    if (i === -1) continue;
    const args = cmd.slice(i + 1);
    const schema = cmd[i]!.includes('global') ? GlobalFlags : ZoneFlags;
    assert.doesNotThrow(() => parseFlags(schema, args, {}), `service ${name}: ${args.join(' ')}`);
    seen.push(name);
  }
  assert.deepEqual(seen.sort(), ['global', 'zone-1', 'zone-2']);
  // Zones are federated, and what they read is what the init services write.
  const flagOf = (svc: string, flag: string) => compose.services[svc]!.command!.find((c) => c.startsWith(`${flag}=`))?.split('=')[1];
  const certsCmd = compose.services['kds-certs']!.command!.join(' ');
  const tokensCmd = compose.services['zone-tokens']!.command!.join(' ');
  for (const z of ['zone-1', 'zone-2']) {
    assert.equal(flagOf(z, '--global-address'), 'grpcs://global:5685');
    assert.equal(flagOf(z, '--kds-ca-file'), '/secrets/ca.crt');
    assert.match(certsCmd, /generate kds-certs --dir \/secrets --name global/);
    assert.equal(flagOf(z, '--zone-token-file'), `/secrets/${z}.token`);
    assert.match(tokensCmd, /generate zone-token --zone \$\$z --scope zone .*> \/secrets\/\$\$z\.token/);
  }
  assert.equal(flagOf('global', '--kds-tls-cert'), '/secrets/kds.crt');
  // Minting tokens is the admin's: the token service asks from global's own loopback.
  const tokens = compose.services['zone-tokens'] as { network_mode?: string };
  assert.equal(tokens.network_mode, 'service:global');
  assert.match(tokensCmd, /--cp http:\/\/127\.0\.0\.1:5681/);
  assert.equal(flagOf('global', '--api-localhost-is-admin'), undefined, 'global keeps loopback as the admin');
  // The test must be able to fail: a made-up flag is refused by the same check.
  assert.throws(() => parseFlags(GlobalFlags, ['--made-up=1'], {}), /unknown flag --made-up/);
});
