// A proxy that brings its Dataplane in node metadata (as meshfed-dp does) registers it for its stream's
// life on a real zone CP over real TLS gRPC; a mismatched one is refused; GET /xds-server says where ADS is.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { type ClientDuplexStream, Metadata, status } from '@grpc/grpc-js';
import { ADS_SERVICE, AdsClient, adsCodec, NODE_METADATA, toStruct, XDS_SERVER_INFO_PATH, XDS_TYPE_URL, type XdsServerInfo } from '@meshfed/shared';
import { cleanups } from './support/cleanup.js';
import { type RunningCp, startCp } from './support/processes.js';
import { type XdsTarget, xdsPortOf, xdsTargetOf } from './support/xds-client.js';

const WAIT_MS = 15_000;

async function dataplaneToken(zone: RunningCp, mesh: string, name: string, tags?: Record<string, string>): Promise<string> {
  const res = await fetch(`${zone.url}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mesh, name, validFor: '1h', ...(tags ? { tags } : {}) }) });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.text()).trim();
}

/** A delta ADS stream whose first request carries `metadata` as node.metadata, like meshfed-dp's. */
function openStream(target: XdsTarget, nodeId: string, token: string, metadata: Record<string, string>) {
  const client = new AdsClient(target.address, target.credentials);
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  const call: ClientDuplexStream<Buffer, Buffer> = client.makeBidiStreamRequest(ADS_SERVICE.DeltaAggregatedResources!.path, (b: Buffer) => b, (b: Buffer) => b, md);
  let error: (Error & { code?: number; details?: string }) | undefined;
  const failed = new Promise<Error & { code?: number; details?: string }>((resolve) => call.on('error', (e: Error) => resolve((error = e))));
  call.on('data', () => undefined);
  const close = () => {
    call.cancel();
    client.close();
  };
  cleanups.push(close);
  call.write(adsCodec.encodeDeltaRequest({ node: { id: nodeId, metadata: toStruct(metadata) }, type_url: XDS_TYPE_URL.cluster }));
  return { close, failed, error: () => error };
}

/** Resolves once the zone logs a line with `msg` whose fields include `fields`; bounded. */
async function logged(cp: RunningCp, msg: string, fields: Record<string, unknown>): Promise<void> {
  const matches = () => cp.logs().split('\n').some((l) => {
    if (!l.includes(`"${msg}"`)) return false;
    const o = JSON.parse(l) as Record<string, unknown>;
    return Object.entries(fields).every(([k, v]) => o[k] === v);
  });
  const deadline = Date.now() + WAIT_MS;
  while (!matches()) {
    if (Date.now() > deadline) throw new Error(`the zone did not log "${msg}" with ${JSON.stringify(fields)} within ${WAIT_MS} ms:\n${cp.logs()}`);
    await Promise.race([once(cp.process.stdout!, 'data'), new Promise((r) => setTimeout(r, 500))]);
  }
}

const webResource = {
  type: 'Dataplane', mesh: 'default', name: 'web-1',
  networking: { address: '127.0.0.1', inbound: [{ port: 18080, servicePort: 8080, tags: { 'kuma.io/service': 'web', version: 'v1' } }] },
};

test('a proxy registers the Dataplane it brings while its stream lives; a mismatched one is refused', { timeout: 90_000 }, async () => {
  const zone = await startCp('zone', ['--zone', 'zone-1']);
  const target = await xdsTargetOf(zone);

  // GET /xds-server: open to anyone, the real port, TLS.
  const info = await fetch(`${zone.url}${XDS_SERVER_INFO_PATH}`);
  assert.equal(info.status, 200, await info.clone().text());
  assert.deepEqual(await info.json() as XdsServerInfo, { host: '127.0.0.1', port: xdsPortOf(zone), tls: true });

  const path = `${zone.url}/meshes/default/dataplanes/web-1`;
  assert.equal((await fetch(path)).status, 404, 'not registered before the stream');
  const token = await dataplaneToken(zone, 'default', 'web-1', { 'kuma.io/service': 'web' });
  const web = openStream(target, 'default.web-1', token, {
    [NODE_METADATA.proxyType]: 'dataplane', [NODE_METADATA.dataplaneResource]: JSON.stringify(webResource),
  });
  await logged(zone, 'xDS: registered dataplane', { mesh: 'default', name: 'web-1', zone: 'zone-1' });
  const res = await fetch(path);
  assert.equal(res.status, 200, await res.clone().text());
  const dp = await res.json() as { networking: { address: string; inbound: unknown[] } };
  assert.deepEqual(dp.networking.inbound, webResource.networking.inbound);
  assert.equal(web.error(), undefined);

  web.close();
  await logged(zone, 'xDS: deregistered dataplane', { mesh: 'default', name: 'web-1', zone: 'zone-1' });
  assert.equal((await fetch(path)).status, 404, 'gone once its stream ended');

  // A Dataplane that is not the node id: refused before anything is stored.
  const mismatched = openStream(target, 'default.web-1', token, {
    [NODE_METADATA.proxyType]: 'dataplane', [NODE_METADATA.dataplaneResource]: JSON.stringify({ ...webResource, name: 'api-1' }),
  });
  const err = await withTimeout(mismatched.failed, 'the refusal of a mismatched Dataplane');
  assert.equal(err.code, status.INVALID_ARGUMENT, err.message);
  assert.match(err.details ?? '', /node\.metadata\["dataplane\.resource"\] name "api-1" does not match node\.id "default\.web-1"/);
  assert.equal((await fetch(`${zone.url}/meshes/default/dataplanes/api-1`)).status, 404);

  // The token's tags bind what the proxy may register.
  const wrongTags = openStream(target, 'default.web-1', await dataplaneToken(zone, 'default', 'web-1', { 'kuma.io/service': 'api' }), {
    [NODE_METADATA.proxyType]: 'dataplane', [NODE_METADATA.dataplaneResource]: JSON.stringify(webResource),
  });
  const denied = await withTimeout(wrongTags.failed, 'the refusal of a Dataplane the token does not allow');
  assert.equal(denied.code, status.PERMISSION_DENIED, denied.message);
  assert.match(denied.details ?? '', /kuma\.io\/service "api"/);
  assert.equal((await fetch(path)).status, 404);
});

test('GET /xds-server says tls false for a zone serving xDS in plaintext', { timeout: 60_000 }, async () => {
  const zone = await startCp('zone', ['--zone', 'zone-1', '--xds-insecure']);
  const info = await fetch(`${zone.url}${XDS_SERVER_INFO_PATH}`);
  assert.deepEqual(await info.json() as XdsServerInfo, { host: '127.0.0.1', port: xdsPortOf(zone), tls: false });
});

async function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`)), WAIT_MS)))]);
  } finally {
    clearTimeout(timer);
  }
}
