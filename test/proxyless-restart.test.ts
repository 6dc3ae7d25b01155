// A zone CP restart under proxyless apps: calls keep flowing on the configuration they hold while the
// zone is down, each meshfed-dp redials by itself, the zone registers the workloads again from their
// streams, and a policy applied after the restart reaches the apps; an agent that exits deregisters.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanups } from './support/cleanup.js';
import { eventually, FAST_GLOBAL, getJson, put, startZone, tmp } from './support/federation.js';
import { createTestDatabase } from './support/postgres.js';
import { startCp } from './support/processes.js';
import { freePort, startEchoApp, startMember } from './support/proxyless.js';
import { startXdsCaller } from './support/xds-caller.js';

const PERMISSION_DENIED = 7;

async function ok(res: Promise<Response>): Promise<void> {
  const r = await res;
  assert.ok(r.ok, `${r.status} ${await r.text()}`);
}

test('proxyless apps ride out a zone CP restart, and their agents reconnect and re-register them', { timeout: 110_000 }, async () => {
  const { dir, cleanup } = tmp();
  cleanups.push(cleanup);
  // On Postgres, as a zone that restarts in production: its dataplane-token signing key and xDS CA survive.
  const db = await createTestDatabase();
  const global = await startCp('global', FAST_GLOBAL);
  const ports = ['--api-port', String(await freePort()), '--xds-port', String(await freePort())];
  const zoneArgs = ['--store', 'postgres', '--postgres-url', db.url, '--dp-deregistration-delay', '300ms', ...ports];
  let zone = await startZone(global, 'zone-1', dir, zoneArgs);
  await eventually('the default mesh in the zone', async () => (await getJson(`${zone.url}/meshes/default`)).status === 200);
  await ok(put(`${global.url}/meshes/default`, { type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } }));
  await ok(put(`${global.url}/meshes/default/meshtrafficpermissions/allow-all`, {
    type: 'MeshTrafficPermission', mesh: 'default', name: 'allow-all',
    spec: { targetRef: { kind: 'Mesh' }, from: [{ targetRef: { kind: 'Mesh' }, default: { action: 'Allow' } }] },
  }));

  const grpc = { 'kuma.io/protocol': 'grpc' };
  const [web, backend] = await Promise.all([
    startMember(zone, dir, 'web', { 'kuma.io/service': 'web', ...grpc }),
    startMember(zone, dir, 'backend-1', { 'kuma.io/service': 'backend', ...grpc }),
  ]);
  await startEchoApp(backend!, { service: 'backend', version: 'v1' });
  const caller = startXdsCaller(web!.bootstrapFile);
  const calls = (n: number) => caller.run({ target: 'xds:///backend', xds: true, requests: Array.from({ length: n }, () => ({})), concurrency: 10, deadlineMs: 3_000 });
  await eventually('web calls backend', async () => (await calls(10)).every((r) => r.ok), 30_000);
  // Registered from their streams and configured: nothing to report (not "does not exist", said while registering).
  for (const name of ['web', 'backend-1']) {
    const { body } = await getJson(`${zone.url}/meshes/default/dataplanes+insights/${name}`);
    assert.equal((body as { insight: { problem?: string } }).insight.problem, undefined, `${name}: ${JSON.stringify(body)}`);
  }

  const stopped = await zone.stop();
  assert.equal(stopped, 0);
  // The data plane does not need its control plane to carry traffic.
  const whileDown = await calls(50);
  assert.deepEqual(whileDown.filter((r) => !r.ok), [], 'calls while the zone is down');
  await eventually('the agents say the stream broke', async () => [web!, backend!].every((m) => m.agent.out().includes('redialling')));

  zone = await startZone(global, 'zone-1', dir, zoneArgs);
  // The new zone process knows the workloads from their agents' new streams (the Dataplanes were kept
  // in the store: a CP that stops does not deregister what it serves).
  for (const name of ['web', 'backend-1']) {
    await eventually(`${name} connected to the restarted zone`, async () => {
      const r = await getJson(`${zone.url}/meshes/default/dataplanes+insights/${name}`);
      return r.status === 200 && (r.body as { insight: { connected: boolean } }).insight.connected;
    }, 30_000);
  }
  // New configuration reaches both apps over the agents' new streams: a deny at the server's RBAC.
  await ok(put(`${global.url}/meshes/default/meshtrafficpermissions/deny-web`, {
    type: 'MeshTrafficPermission', mesh: 'default', name: 'deny-web',
    spec: { targetRef: { kind: 'MeshService', name: 'backend' }, from: [{ targetRef: { kind: 'MeshService', name: 'web' }, default: { action: 'Deny' } }] },
  }));
  await eventually('the deny applied after the restart', async () => (await calls(10)).every((r) => !r.ok && r.code === PERMISSION_DENIED), 30_000);

  const { code } = await backend!.agent.stop();
  assert.equal(code, 0);
  await eventually('backend-1 deregistered', async () => (await getJson(`${zone.url}/meshes/default/dataplanes/backend-1`)).status === 404);
});
