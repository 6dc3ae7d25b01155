import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually, FAST_GLOBAL, getJson, put, startZone, tmp } from './support/federation.js';
import { type RunningCp, startCp } from './support/processes.js';
import { cleanups } from './support/cleanup.js';

type AvailableService = { tags: Record<string, string>; instances: number; mesh: string; externalService?: boolean };
type IngressBody = { name: string; labels: Record<string, string>; availableServices?: AvailableService[] };

const backend = (name: string, address: string, ready?: boolean) => ({
  type: 'Dataplane', mesh: 'default', name,
  networking: { address, inbound: [{ port: 8080, tags: { 'kuma.io/service': 'backend' }, ...(ready === undefined ? {} : { health: { ready } }) }] },
});
const backendOffer = (instances: number) => [{ tags: { 'kuma.io/service': 'backend', 'kuma.io/zone': 'zone-1' }, instances, mesh: 'default' }];

/** zone-1's ingress as `cp` holds it (under global's name outside zone-1), once its list equals `want`. */
async function ingressWith(cp: RunningCp, what: string, want: AvailableService[]): Promise<IngressBody> {
  return eventually(what, async () => {
    const { body } = await getJson(`${cp.url}/zoneingresses`);
    const found = (body.items as IngressBody[]).find((i) => i.labels['kuma.io/display-name'] === 'ingress-1' || i.name === 'ingress-1');
    return found && JSON.stringify(found.availableServices ?? []) === JSON.stringify(want) ? found : undefined;
  });
}

describe('availableServices across zones', () => {
  const t = tmp();
  cleanups.push(t.cleanup);

  test('zone-1 offers its healthy backends; global and zone-2 see the counts follow', async () => {
    const global = await startCp('global', FAST_GLOBAL);
    const [z1, z2] = await Promise.all([startZone(global, 'zone-1', t.dir), startZone(global, 'zone-2', t.dir)]);
    // The mesh comes down from global before dataplanes can join it.
    await eventually('mesh default in zone-1', async () => (await getJson(`${z1.url}/meshes/default`)).status === 200);

    const ingress = {
      type: 'ZoneIngress', name: 'ingress-1',
      networking: { address: '10.1.0.1', advertisedAddress: '192.0.2.10', port: 10001, advertisedPort: 10001 },
    };
    assert.equal((await put(`${z1.url}/zoneingresses/ingress-1`, ingress)).status, 201);
    assert.equal((await put(`${z1.url}/meshes/default/dataplanes/backend-1`, backend('backend-1', '10.0.0.1'))).status, 201);
    assert.equal((await put(`${z1.url}/meshes/default/dataplanes/backend-2`, backend('backend-2', '10.0.0.2'))).status, 201);

    await ingressWith(z1, 'zone-1 ingress lists backend x2', backendOffer(2));
    const onGlobal = await ingressWith(global, 'global sees backend x2', backendOffer(2));
    assert.equal(onGlobal.labels['kuma.io/zone'], 'zone-1');
    const inZone2 = await ingressWith(z2, 'zone-2 sees backend x2', backendOffer(2));
    assert.equal(inZone2.labels['kuma.io/origin'], 'global');
    // zone-2 offers nothing of its own and never rewrites what it received.
    assert.equal((await getJson(`${z2.url}/zoneingresses`)).body.total, 1);

    const started = Date.now();
    assert.equal((await put(`${z1.url}/meshes/default/dataplanes/backend-2`, backend('backend-2', '10.0.0.2', false))).status, 200);
    await ingressWith(z2, 'zone-2 sees backend x1 after one went unhealthy', backendOffer(1));
    const lagMs = Date.now() - started;
    console.log(`availableServices: unhealthy in zone-1 -> visible in zone-2 after ${lagMs} ms`);
    await ingressWith(global, 'global sees backend x1', backendOffer(1));
  });
});
