import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { eventually, FAST_GLOBAL, getJson, kdsPortOf, metricSum, put, startZone, timeout, tmp, zoneToken } from './support/federation.js';
import { createTestDatabase } from './support/postgres.js';
import { TEST_NATS_URL } from './support/nats.js';
import { type RunningCp, startCp } from './support/processes.js';
import { cleanups } from './support/cleanup.js';

const ingress = (name: string) => ({
  type: 'ZoneIngress', name,
  networking: { address: '10.1.0.1', advertisedAddress: '192.0.2.10', port: 10001, advertisedPort: 10001 },
  availableServices: [{ tags: { 'kuma.io/service': 'backend', 'kuma.io/zone': 'zone-1' }, instances: 2, mesh: 'default' }],
});

describe('KDS federation: global and two zones', () => {
  const t = tmp();
  cleanups.push(t.cleanup);
  let global: RunningCp;
  let z1: RunningCp;
  let z2: RunningCp;

  test('zones connect and show online on global', async () => {
    global = await startCp('global', FAST_GLOBAL);
    [z1, z2] = await Promise.all([startZone(global, 'zone-1', t.dir), startZone(global, 'zone-2', t.dir)]);
    const items = await eventually('both zones online', async () => {
      const { body } = await getJson(`${global.url}/zones+insights`);
      const online = body.items.filter((i: { online: boolean }) => i.online).map((i: { name: string }) => i.name).sort();
      return online.length === 2 ? body.items : undefined;
    });
    assert.deepEqual(items.map((i: { name: string }) => i.name).sort(), ['zone-1', 'zone-2']);
    assert.equal((await getJson(`${global.url}/zones/zone-1`)).status, 200, 'a Zone is created on first connect');
    const gi = (await getJson(`${global.url}/global-insight`)).body;
    assert.equal(gi.zones.online, 2);
  });

  test('a policy PUT on global appears in both zones, labelled as from global', async () => {
    const started = Date.now();
    assert.equal((await put(`${global.url}/meshes/default/meshtimeouts/t1`, timeout('t1'))).status, 201);
    for (const z of [z1, z2]) {
      const r = await eventually(`t1 in ${z.url}`, async () => {
        const res = await getJson(`${z.url}/meshes/default/meshtimeouts/t1`);
        return res.status === 200 ? res.body : undefined;
      });
      assert.equal(r.labels['kuma.io/origin'], 'global');
      assert.equal(r.spec.to[0].default.idleTimeout, '10s');
    }
    assert.ok(Date.now() - started < 5000);
    // The Mesh itself came down too, and an update follows.
    assert.equal((await getJson(`${z1.url}/meshes/default`)).body.labels['kuma.io/origin'], 'global');
    const changed = { ...timeout('t1'), spec: { ...timeout('t1').spec, to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout: '20s' } }] } };
    assert.equal((await put(`${global.url}/meshes/default/meshtimeouts/t1`, changed)).status, 200);
    await eventually('update in zone-2', async () => (await getJson(`${z2.url}/meshes/default/meshtimeouts/t1`)).body.spec.to[0].default.idleTimeout === '20s');
  });

  test('a ZoneIngress created in zone-1 reaches global renamed and labelled, and zone-2', async () => {
    // Its availableServices are the zone's: two healthy backend instances.
    for (const n of ['backend-1', 'backend-2']) {
      const dp = { type: 'Dataplane', mesh: 'default', name: n, networking: { address: '10.0.0.7', inbound: [{ port: n === 'backend-1' ? 8080 : 8081, tags: { 'kuma.io/service': 'backend' } }] } };
      assert.equal((await put(`${z1.url}/meshes/default/dataplanes/${n}`, dp)).status, 201);
    }
    assert.equal((await put(`${z1.url}/zoneingresses/ingress-1`, ingress('ingress-1'))).status, 201);
    const onGlobal = await eventually('ingress on global', async () => {
      const { body } = await getJson(`${global.url}/zoneingresses`);
      return body.items.find((i: { labels: Record<string, string> }) => i.labels['kuma.io/display-name'] === 'ingress-1');
    });
    assert.notEqual(onGlobal.name, 'ingress-1', 'renamed to be collision-free');
    assert.equal(onGlobal.labels['kuma.io/zone'], 'zone-1');
    assert.equal(onGlobal.labels['kuma.io/origin'], 'zone');
    assert.equal(onGlobal.zone, 'zone-1');
    const inZone2 = await eventually('ingress in zone-2', async () => {
      const res = await getJson(`${z2.url}/zoneingresses/${onGlobal.name}`);
      return res.status === 200 ? res.body : undefined;
    });
    assert.equal(inZone2.labels['kuma.io/zone'], 'zone-1');
    assert.equal(inZone2.labels['kuma.io/origin'], 'global');
    await eventually('availableServices in zone-2', async () => {
      const { body } = await getJson(`${z2.url}/zoneingresses/${onGlobal.name}`);
      return JSON.stringify(body.availableServices) === JSON.stringify(ingress('ingress-1').availableServices);
    });
    // Never sent back to the zone it came from.
    assert.equal((await getJson(`${z1.url}/zoneingresses`)).body.total, 1);
  });

  test('dataplanes go up, not across; a zone refuses global-owned writes and writes to what global sent', async () => {
    const dp = { type: 'Dataplane', mesh: 'default', name: 'web-1', networking: { address: '10.0.0.5', inbound: [{ port: 8080, tags: { 'kuma.io/service': 'web' } }] } };
    assert.equal((await put(`${z1.url}/meshes/default/dataplanes/web-1`, dp)).status, 201);
    await eventually('dataplane on global', async () => (await getJson(`${global.url}/meshes/default/dataplanes`)).body.items.some((d: { labels: Record<string, string> }) => d.labels['kuma.io/display-name'] === 'web-1'));
    assert.equal((await getJson(`${z2.url}/meshes/default/dataplanes`)).body.total, 0);
    const refused = await put(`${z1.url}/meshes/default/meshtimeouts/local`, timeout('local'));
    assert.equal(refused.status, 400);
    assert.match((await refused.json()).details, /global control plane/);
  });

  test('deleting on global removes from zones; a zone disconnecting deletes nothing elsewhere', async () => {
    assert.equal((await fetch(`${global.url}/meshes/default/meshtimeouts/t1`, { method: 'DELETE' })).status, 200);
    await eventually('t1 gone from zone-1', async () => (await getJson(`${z1.url}/meshes/default/meshtimeouts/t1`)).status === 404);
    const before = (await getJson(`${z2.url}/zoneingresses`)).body.total;
    await z1.stop();
    await eventually('zone-1 offline', async () => (await getJson(`${global.url}/zones+insights`)).body.items.find((i: { name: string; online: boolean }) => i.name === 'zone-1' && !i.online));
    assert.equal((await getJson(`${z2.url}/zoneingresses`)).body.total, before, 'zone-2 keeps zone-1 ingress');
    assert.ok((await getJson(`${global.url}/zoneingresses`)).body.total >= 1, 'global keeps it too');
  });
});

describe('KDS authentication', () => {
  const t = tmp();
  cleanups.push(t.cleanup);

  test('missing, wrongly scoped, other-zone and garbage tokens are refused with the reason', async () => {
    const global = await startCp('global', FAST_GLOBAL);
    const cases: [string, string, RegExp][] = [
      ['wrong scope', await zoneToken(global, 'zone-a', ['ingress']), /scope/],
      ['another zone', await zoneToken(global, 'zone-b'), /zone-b/],
      ['garbage', 'not-a-jwt', /malformed|invalid/i],
    ];
    for (const [what, token, reason] of cases) {
      const zone = await startZone(global, 'zone-a', t.dir, [], token);
      await eventually(`zone log says why (${what})`, async () => /global refused this zone/.test(zone.logs()) && reason.test(zone.logs()));
      await eventually(`global log says why (${what})`, async () => /KDS: refused zone/.test(global.logs()));
      assert.equal((await getJson(`${zone.url}/meshes`)).body.total, 0, `${what}: nothing synced`);
      await zone.stop();
    }
    assert.ok((await metricSum(global, 'meshfed_kds_auth_failures_total')) >= 3);
  });
});

describe('KDS over TLS', () => {
  test('a zone verifies global with --kds-ca-file; without it the connection fails and says why', async () => {
    const t = tmp();
    cleanups.push(t.cleanup);
    const { generateCa, issueServerCertificate } = await import('@meshfed/shared');
    const ca = await generateCa({ commonName: 'test CA' });
    const server = await issueServerCertificate(ca, { commonName: 'global', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    for (const [f, pem] of [['ca.crt', ca.certPem], ['kds.crt', server.certPem], ['kds.key', server.keyPem]] as const) writeFileSync(join(t.dir, f), pem);
    const global = await startCp('global', ['--kds-port', '0', '--kds-tls-cert', join(t.dir, 'kds.crt'), '--kds-tls-key', join(t.dir, 'kds.key'), '--kds-health-check-interval', '300ms']);
    const tokenFile = join(t.dir, 'z.token');
    writeFileSync(tokenFile, await zoneToken(global, 'zone-tls'));
    const base = ['--zone', 'zone-tls', '--global-address', `grpcs://127.0.0.1:${kdsPortOf(global)}`, '--zone-token-file', tokenFile, '--kds-backoff-base', '100ms'];
    const good = await startCp('zone', [...base, '--kds-ca-file', join(t.dir, 'ca.crt')]);
    await eventually('mesh over TLS', async () => (await getJson(`${good.url}/meshes/default`)).status === 200);
    await good.stop();
    const bad = await startCp('zone', base);
    await eventually('certificate error in the log', async () => /certificate|self.signed|unable to verify/i.test(bad.logs()));
    await bad.stop();
  });
});

describe('KDS resilience', () => {
  test('kill -9 of a zone on Postgres: on restart only the changed resources travel', async () => {
    const t = tmp();
    cleanups.push(t.cleanup);
    const db = await createTestDatabase();
    const global = await startCp('global', FAST_GLOBAL);
    for (let i = 0; i < 30; i++) assert.equal((await put(`${global.url}/meshes/default/meshtimeouts/p${i}`, timeout(`p${i}`))).status, 201);
    const zoneArgs = ['--store', 'postgres', '--postgres-url', db.url];
    const tokenFile = join(t.dir, 'zone-pg.token');
    writeFileSync(tokenFile, await zoneToken(global, 'zone-pg'));
    const args = ['--zone', 'zone-pg', '--global-address', `grpc://127.0.0.1:${kdsPortOf(global)}`, '--zone-token-file', tokenFile, '--kds-backoff-base', '100ms', ...zoneArgs];
    let zone = await startCp('zone', args);
    // Ours and the two MeshTimeouts global made with the default mesh (mesh-timeout-all-default, mesh-gateways-timeout-all-default).
    const defaults = ['mesh-gateways-timeout-all-default', 'mesh-timeout-all-default'];
    await eventually('30 policies and the 2 defaults in the zone', async () => {
      const { body } = await getJson(`${zone.url}/meshes/default/meshtimeouts?size=100`);
      return body.total === 32 && defaults.every((d) => body.items.some((i: { name: string }) => i.name === d));
    });
    zone.kill();
    await new Promise((r) => zone.process.once('exit', r));
    // While the zone is down: 2 updates, 1 new, 1 deleted.
    for (const n of ['p1', 'p2']) await put(`${global.url}/meshes/default/meshtimeouts/${n}`, { ...timeout(n), labels: { changed: 'yes' } });
    await put(`${global.url}/meshes/default/meshtimeouts/p-new`, timeout('p-new'));
    await fetch(`${global.url}/meshes/default/meshtimeouts/p3`, { method: 'DELETE' });
    zone = await startCp('zone', args);
    await eventually('converged', async () => {
      const { body } = await getJson(`${zone.url}/meshes/default/meshtimeouts?size=100`);
      const names = body.items.map((i: { name: string }) => i.name);
      return body.total === 32 && names.includes('p-new') && !names.includes('p3') && body.items.find((i: { name: string }) => i.name === 'p1').labels.changed === 'yes';
    });
    const applied = await metricSum(zone, 'meshfed_kds_resources_applied_total', 'type="MeshTimeout"');
    assert.equal(applied, 3, 'only the 2 updated and 1 new MeshTimeouts were sent (the delete is a removal)');
  });

  test('global restarted on Postgres: zones reconnect and converge', async () => {
    const t = tmp();
    cleanups.push(t.cleanup);
    const db = await createTestDatabase();
    const gArgs = ['--kds-insecure', '--kds-health-check-interval', '300ms', '--store', 'postgres', '--postgres-url', db.url];
    let global = await startCp('global', [...gArgs, '--kds-port', '0']);
    const port = kdsPortOf(global);
    const zone = await startZone(global, 'zone-r', t.dir);
    await eventually('connected', async () => (await getJson(`${zone.url}/meshes/default`)).status === 200);
    global.kill();
    await new Promise((r) => global.process.once('exit', r));
    global = await startCp('global', [...gArgs, '--kds-port', String(port)]);
    assert.equal((await put(`${global.url}/meshes/default/meshtimeouts/after-restart`, timeout('after-restart'))).status, 201);
    await eventually('policy written after the restart reaches the zone', async () => (await getJson(`${zone.url}/meshes/default/meshtimeouts/after-restart`)).status === 200, 30_000);
  });

  test('a resource too large for any message is refused alone and shown in insights; the rest syncs', async () => {
    const t = tmp();
    cleanups.push(t.cleanup);
    const global = await startCp('global', [...FAST_GLOBAL, '--kds-max-message-size', '65536']);
    const zone = await startZone(global, 'zone-big', t.dir, ['--kds-max-message-size', '65536']);
    const big = { type: 'Secret', mesh: 'default', name: 'big', data: Buffer.alloc(120_000, 7).toString('base64') };
    assert.equal((await put(`${global.url}/meshes/default/secrets/big`, big)).status, 201);
    assert.equal((await put(`${global.url}/meshes/default/secrets/small`, { ...big, name: 'small', data: 'c21hbGw=' })).status, 201);
    await eventually('small secret synced', async () => (await getJson(`${zone.url}/meshes/default/secrets/small`)).status === 200);
    const refused = await eventually('refusal in insights', async () => {
      const { body } = await getJson(`${global.url}/zones+insights/zone-big`);
      const text = JSON.stringify(body);
      return text.includes('cannot fit') ? text : undefined;
    });
    assert.match(refused, /default\/big/);
    assert.equal((await getJson(`${zone.url}/meshes/default/secrets/big`)).status, 404);
  });
});

describe('KDS health checks', () => {
  test('a frozen zone is marked offline within 3 health-check intervals, and comes back when it thaws', async () => {
    const t = tmp();
    cleanups.push(t.cleanup);
    const global = await startCp('global', FAST_GLOBAL);
    const zone = await startZone(global, 'zone-frozen', t.dir);
    const online = async (want: boolean) => {
      const { body } = await getJson(`${global.url}/zones+insights/zone-frozen`);
      return body.online === want;
    };
    await eventually('online', () => online(true));
    zone.process.kill('SIGSTOP');
    cleanups.push(() => zone.process.kill('SIGCONT'));
    const frozenAt = Date.now();
    await eventually('offline', () => online(false), 10_000);
    const took = Date.now() - frozenAt;
    // 3 × 300 ms intervals counted from the last health check, which came up to one interval before the
    // freeze, plus one insight flush (1 s) and the poll: well under 3 s, and not before 600 ms.
    assert.ok(took >= 550 && took < 3000, `offline after ${took} ms`);
    assert.match(global.logs(), /zone went silent; closing its streams/);
    zone.process.kill('SIGCONT');
    await eventually('online again after thawing', () => online(true), 15_000);
  });
});

describe('global replicas on Postgres and NATS', () => {
  test('a write on either replica reaches zones connected to the other', async () => {
    const t = tmp();
    cleanups.push(t.cleanup);
    const db = await createTestDatabase();
    const prefix = `t${Math.random().toString(16).slice(2, 10)}`;
    const args = [...FAST_GLOBAL, '--store', 'postgres', '--postgres-url', db.url, '--nats-url', TEST_NATS_URL, '--nats-subject-prefix', prefix];
    const a = await startCp('global', args);
    const b = await startCp('global', args);
    const za = await startZone(a, 'zone-a', t.dir);
    const zb = await startZone(b, 'zone-b', t.dir, [], await zoneToken(a, 'zone-b'));
    await eventually('zone-b synced', async () => (await getJson(`${zb.url}/meshes/default`)).status === 200);
    const started = Date.now();
    assert.equal((await put(`${a.url}/meshes/default/meshtimeouts/from-a`, timeout('from-a'))).status, 201);
    assert.equal((await put(`${b.url}/meshes/default/meshtimeouts/from-b`, timeout('from-b'))).status, 201);
    for (const z of [za, zb]) {
      for (const n of ['from-a', 'from-b']) await eventually(`${n} in ${z.url}`, async () => (await getJson(`${z.url}/meshes/default/meshtimeouts/${n}`)).status === 200, 5000);
    }
    assert.ok(Date.now() - started < 5000, 'well within the 30 s reconcile: carried by NATS events');
  });
});
