// Token revocation end to end, on the built daemons: a revoked token is refused from then on, and the
// streams it opened end within a second, saying why: a zone's KDS streams to global, a dataplane's ADS
// stream to its zone, and, once global's list has reached it over KDS, an ingress's ADS stream to a zone.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { cleanups } from './support/cleanup.js';
import { eventually, FAST_GLOBAL, getJson, put, startZone, tmp, zoneToken } from './support/federation.js';
import { type RunningCp, startCp } from './support/processes.js';
import { XdsTestClient, type XdsTarget, xdsTargetOf } from './support/xds-client.js';
import { jwtId, meshfed } from './support/cli.js';

async function revoke(cp: RunningCp, kind: 'zone' | 'dataplane', id: string): Promise<unknown> {
  const res = await fetch(`${cp.url}/tokens/${kind}/revocations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

async function dataplaneToken(zone: RunningCp, name: string): Promise<string> {
  const res = await fetch(`${zone.url}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mesh: 'default', name, validFor: '1h' }) });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.text()).trim();
}

/** Resolves when `cp` has logged a line that passes `match`, with the time it was seen. Bounded. */
function logged(cp: RunningCp, match: (line: string) => boolean, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const check = () => cp.logs().split('\n').some(match);
    if (check()) return resolve(Date.now());
    const onData = () => {
      if (!check()) return;
      done();
      resolve(Date.now());
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for a log line; last lines:\n${cp.logs().split('\n').slice(-15).join('\n')}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      cp.process.stdout!.off('data', onData);
    };
    // After processes.ts's own listener, so logs() already holds the chunk.
    cp.process.stdout!.on('data', onData);
  });
}

/** A proxy admitted on its token: the zone logged it connected (an ingress with nothing to route gets no response). */
async function connectedProxy(zone: RunningCp, target: XdsTarget, nodeId: string, type: 'dataplane' | 'ingress', token: string, proxyId: string): Promise<XdsTestClient> {
  return eventually(`${proxyId} admitted`, async () => {
    const before = zone.logs().length;
    const c = new XdsTestClient(target, nodeId, type, token);
    try {
      await logged({ ...zone, logs: () => zone.logs().slice(before) }, (l) => l.includes('"xDS: proxy connected"') && l.includes(`"proxyId":"${proxyId}"`), 3000);
    } catch {
      c.close();
      return undefined;
    }
    return c.error === undefined ? c : undefined;
  }, 20_000);
}

async function refusedWith(target: XdsTarget, nodeId: string, type: 'dataplane' | 'ingress', token: string): Promise<{ code?: number; details?: string }> {
  const c = new XdsTestClient(target, nodeId, type, token);
  await eventually(`${nodeId} refused`, async () => c.error !== undefined || c.ended);
  return c.error ?? {};
}

describe('token revocation', { timeout: 120_000 }, () => {
  test('a zone token revoked on global: the zone\'s KDS streams end within a second, it is refused after, and an ingress of its zone is refused once the list arrives over KDS', async () => {
    const dir = tmp();
    cleanups.push(dir.cleanup);
    const global = await startCp('global', FAST_GLOBAL);
    const kdsToken = await zoneToken(global, 'zone-1');
    const zone = await startZone(global, 'zone-1', dir.dir, [], kdsToken);
    await logged(global, (l) => l.includes('"KDS: zone connected"') && l.includes('"zone":"zone-1"'));

    // An ingress of zone-1, admitted by zone-1 with global's key.
    await eventually('the default mesh in the zone', async () => (await getJson(`${zone.url}/meshes/default`)).status === 200);
    const xds = await xdsTargetOf(zone);
    const ingressToken = await zoneToken(global, 'zone-1', ['ingress']);
    const ingressId = jwtId(ingressToken);
    const ingress = await connectedProxy(zone, xds, 'ingress-1', 'ingress', ingressToken, 'zoneingress:ingress-1');

    // Revoked with the CLI on global; the revocation reaches zone-1 over KDS and ends the ingress's stream there.
    const cli = await meshfed(['revoke', 'zone-token', ingressId, '--cp', global.url]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout, `revoked zone token ${ingressId}\n`);
    await eventually('the ingress stream ended', async () => ingress.error !== undefined, 10_000);
    assert.equal(ingress.error!.code, status.UNAUTHENTICATED);
    assert.equal(ingress.error!.details, `zone token ${ingressId} was revoked`);
    assert.match(zone.logs(), new RegExp(`"msg":"xDS: ending the stream of a proxy: zone token ${ingressId} was revoked"`));
    const again = await refusedWith(xds, 'ingress-1', 'ingress', ingressToken);
    assert.equal(again.code, status.UNAUTHENTICATED);
    assert.equal(again.details, `zone token ${ingressId} was revoked`);
    const received = await getJson(`${zone.url}/tokens/zone/revocations`);
    assert.deepEqual(received.body, { kind: 'zone', total: 1, ids: [ingressId] });
    const refusedOnZone = await meshfed(['revoke', 'zone-token', ingressId, '--cp', zone.url]);
    assert.equal(refusedOnZone.code, 1);
    assert.match(refusedOnZone.stderr, /not revoked here \(400\)\n {2}zone tokens are revoked on the global control plane/);

    // zone-1's own KDS token: its streams end within a second of the answer.
    const kdsId = jwtId(kdsToken);
    const disconnected = logged(global, (l) => l.includes('"KDS: zone disconnected"') && l.includes(`zone token ${kdsId} was revoked`));
    const before = Date.now();
    assert.deepEqual(await revoke(global, 'zone', kdsId), { kind: 'zone', id: kdsId, outcome: 'revoked' });
    const elapsed = (await disconnected) - before;
    assert.ok(elapsed < 1000, `the zone's streams ended ${elapsed} ms after the revocation`);
    assert.match(global.logs(), new RegExp(`"msg":"KDS: ending the zone's stream: zone token ${kdsId} was revoked"`));

    // Its reconnects are refused, saying why, and global's insight of the zone keeps the reason.
    await logged(global, (l) => l.includes(`"msg":"KDS: refused zone: zone token ${kdsId} was revoked"`));
    const insight = await eventually('the disconnect in the zone insight', async () => {
      const { body } = await getJson(`${global.url}/zone-insights/zone-1`);
      return (body?.subscriptions as { disconnectReason?: string }[] | undefined)?.find((s) => s.disconnectReason !== undefined);
    });
    assert.equal(insight.disconnectReason, `zone token ${kdsId} was revoked`);
    assert.deepEqual(await revoke(global, 'zone', kdsId), { kind: 'zone', id: kdsId, outcome: 'already-revoked' });
    assert.deepEqual((await getJson(`${global.url}/tokens/zone/revocations`)).body, { kind: 'zone', total: 2, ids: [ingressId, kdsId] });
  });

  test('a dataplane token revoked on its zone: the proxy\'s ADS stream ends within a second, its insight says why, and it is refused after', async () => {
    const zone = await startCp('zone', []);
    const xds = await xdsTargetOf(zone);
    const res = await put(`${zone.url}/meshes/default/dataplanes/web-1`, {
      type: 'Dataplane', mesh: 'default', name: 'web-1', networking: { address: '127.0.0.1', inbound: [{ port: 11001, tags: { 'kuma.io/service': 'web' } }] },
    });
    assert.ok(res.ok, await res.text());
    const token = await dataplaneToken(zone, 'web-1');
    const other = await dataplaneToken(zone, 'web-1');
    const id = jwtId(token);
    const web = await connectedProxy(zone, xds, 'default.web-1', 'dataplane', token, 'default.web-1');
    await web.waitFor('web configured', (c) => c.responses > 0);

    const before = Date.now();
    assert.deepEqual(await revoke(zone, 'dataplane', id), { kind: 'dataplane', id, outcome: 'revoked' });
    await eventually('the stream ended within a second', async () => web.error !== undefined, 1000);
    assert.ok(Date.now() - before < 1000, `ended after ${Date.now() - before} ms`);
    assert.equal(web.error!.code, status.UNAUTHENTICATED);
    assert.equal(web.error!.details, `dataplane token ${id} was revoked`);

    const insight = await eventually('the insight says why', async () => {
      const { body } = await getJson(`${zone.url}/meshes/default/dataplanes+insights/web-1`);
      return body.insight.connected === false ? body.insight : undefined;
    });
    assert.equal(insight.disconnectReason, `dataplane token ${id} was revoked`);
    assert.match(zone.logs(), new RegExp(`"msg":"xDS: ending the stream of a proxy: dataplane token ${id} was revoked"`));

    const again = await refusedWith(xds, 'default.web-1', 'dataplane', token);
    assert.equal(again.code, status.UNAUTHENTICATED);
    assert.equal(again.details, `dataplane token ${id} was revoked`);
    // Another token of the same dataplane is not revoked.
    const back = await connectedProxy(zone, xds, 'default.web-1', 'dataplane', other, 'default.web-1');
    await back.waitFor('web configured again', (c) => c.responses > 0);
    assert.deepEqual((await getJson(`${zone.url}/tokens/dataplane/revocations`)).body, { kind: 'dataplane', total: 1, ids: [id] });
  });
});
