import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ClientDuplexStream, credentials, status } from '@grpc/grpc-js';
import {
  ADS_SERVICE, AdsClient, adsCodec, type AdsDeltaDiscoveryResponse, type AdsDiscoveryResponse, createLogger, type Decoded, toStruct, unpack, XDS_TYPE_URL,
} from '@meshfed/shared';
import { AdsServer } from './ads-server.js';
import { allowAll } from './auth.js';
import { baseResources, baseSnapshot, edsCluster, loadAssignment } from './fixtures.test-support.js';
import { ProxyInsights } from './proxy-insights.js';
import { makeSnapshot } from './snapshot.js';
import { SnapshotCache } from './snapshot-cache.js';

const log = createLogger({ component: 'ads-test', level: 'fatal' });
const cache = new SnapshotCache();
const insights = new ProxyInsights();
const server = new AdsServer({ cache, insights, log, address: '127.0.0.1', port: 0, authenticate: allowAll });
let client: AdsClient;

before(async () => {
  const port = await server.start();
  client = new AdsClient(`127.0.0.1:${port}`, credentials.createInsecure());
});
after(async () => {
  client.close();
  await server.stop();
});

/** A stream whose responses are read in order; `next` fails after a while, `none` checks quiet. */
function open<T>(path: string, decode: (b: Buffer) => Decoded<T>) {
  const call: ClientDuplexStream<Buffer, Buffer> = client.makeBidiStreamRequest<Buffer, Buffer>(path, (b) => b, (b) => b);
  const queue: T[] = [];
  const waiters: ((v: T) => void)[] = [];
  let error: Error | undefined;
  call.on('data', (b: Buffer) => {
    const d = decode(b);
    assert.ok(d.ok);
    const w = waiters.shift();
    if (w) w(d.value);
    else queue.push(d.value);
  });
  call.on('error', (e: Error) => (error = e));
  return {
    call,
    get error() {
      return error;
    },
    next(ms = 3000): Promise<T> {
      const q = queue.shift();
      if (q !== undefined) return Promise.resolve(q);
      return new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no response in time')), ms);
        waiters.push((v) => {
          clearTimeout(t);
          resolve(v);
        });
      });
    },
    async none(ms = 200): Promise<void> {
      await new Promise((r) => setTimeout(r, ms));
      assert.equal(queue.length, 0, `unexpected responses: ${JSON.stringify(queue.map((x) => Object.keys(x as object)))}`);
    },
  };
}

const nodeOf = (id: string, proxyType = 'dataplane') => ({ id, metadata: toStruct({ proxyType }) });

test('SotW ADS: initial response, ACK, push on change, NACK recorded and the refused version not re-pushed', async () => {
  cache.set('default.web', baseSnapshot(1));
  const s = open<AdsDiscoveryResponse>(ADS_SERVICE.StreamAggregatedResources!.path, adsCodec.decodeResponse);
  s.call.write(adsCodec.encodeRequest({ node: nodeOf('default.web'), type_url: XDS_TYPE_URL.cluster }));
  const cds = await s.next();
  assert.equal(cds.type_url, XDS_TYPE_URL.cluster);
  assert.deepEqual(cds.resources?.map((r) => unpack(r)['name']), ['backend']);
  s.call.write(adsCodec.encodeRequest({ type_url: XDS_TYPE_URL.cluster, version_info: cds.version_info, response_nonce: cds.nonce }));
  s.call.write(adsCodec.encodeRequest({ type_url: XDS_TYPE_URL.endpoint, resource_names: ['backend'] }));
  const eds = await s.next();
  assert.equal(eds.type_url, XDS_TYPE_URL.endpoint);
  s.call.write(adsCodec.encodeRequest({ type_url: XDS_TYPE_URL.endpoint, resource_names: ['backend'], version_info: eds.version_info, response_nonce: eds.nonce }));
  s.call.write(adsCodec.encodeRequest({ type_url: XDS_TYPE_URL.listener }));
  const lds = await s.next();
  await s.none();
  const acked = insights.get('default.web');
  assert.equal(acked?.protocol, 'sotw');
  assert.equal(acked?.types.cluster?.lastAcked?.version, cds.version_info);

  // The endpoints change: only EDS is pushed, with every subscribed resource.
  cache.set('default.web', baseSnapshot(2));
  const eds2 = await s.next();
  assert.equal(eds2.type_url, XDS_TYPE_URL.endpoint);
  assert.equal((unpack(eds2.resources![0]!)['endpoints'] as { lb_endpoints: unknown[] }[])[0]?.lb_endpoints.length, 2);
  await s.none();

  // The proxy refuses the listeners: recorded, and re-publishing the same content pushes nothing.
  s.call.write(adsCodec.encodeRequest({ type_url: XDS_TYPE_URL.listener, version_info: '', response_nonce: lds.nonce, error_detail: { code: 3, message: 'listener refused by test' } }));
  await s.none();
  const nacked = insights.get('default.web')?.types.listener;
  assert.equal(nacked?.lastNack?.error, 'listener refused by test');
  assert.equal(nacked?.lastNack?.version, lds.version_info);
  cache.set('default.web', makeSnapshot({ ...baseResources(2), cluster: { backend: edsCluster('backend', 7) } }));
  const cds2 = await s.next();
  assert.equal(cds2.type_url, XDS_TYPE_URL.cluster, 'the cluster change is pushed, the refused listeners are not');
  await s.none();
  s.call.end();
});

test('delta ADS: initial response, a change pushes only the changed resource, removal; another proxy is unaffected', async () => {
  cache.set('default.api', baseSnapshot(1));
  cache.set('ingress-1', baseSnapshot(1));
  const d = open<AdsDeltaDiscoveryResponse>(ADS_SERVICE.DeltaAggregatedResources!.path, adsCodec.decodeDeltaResponse);
  const other = open<AdsDeltaDiscoveryResponse>(ADS_SERVICE.DeltaAggregatedResources!.path, adsCodec.decodeDeltaResponse);
  d.call.write(adsCodec.encodeDeltaRequest({ node: nodeOf('default.api'), type_url: XDS_TYPE_URL.cluster, resource_names_subscribe: ['*'] }));
  other.call.write(adsCodec.encodeDeltaRequest({ node: nodeOf('ingress-1', 'ingress'), type_url: XDS_TYPE_URL.cluster, resource_names_subscribe: ['*'] }));
  const c1 = await d.next();
  assert.deepEqual(c1.resources?.map((r) => [r.name, r.resource?.type_url]), [['backend', XDS_TYPE_URL.cluster]]);
  const o1 = await other.next();
  d.call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.cluster, response_nonce: c1.nonce }));
  other.call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.cluster, response_nonce: o1.nonce }));
  d.call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.endpoint, resource_names_subscribe: ['backend'] }));
  const e1 = await d.next();
  d.call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.endpoint, response_nonce: e1.nonce }));
  await d.none();
  assert.equal(insights.get('default.api')?.types.cluster?.acks, 1);
  assert.equal(insights.get('ingress-1')?.proxyType, 'ingress');

  // One more cluster: only it travels; the other proxy hears nothing.
  const res = baseResources(1);
  cache.set('default.api', makeSnapshot({ ...res, cluster: { backend: edsCluster('backend'), extra: edsCluster('extra') }, endpoint: { ...res.endpoint, extra: loadAssignment('extra', 9090) } }));
  const c2 = await d.next();
  assert.equal(c2.type_url, XDS_TYPE_URL.cluster);
  assert.deepEqual(c2.resources?.map((r) => r.name), ['extra']);
  d.call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.cluster, response_nonce: c2.nonce }));
  const e2 = await d.next();
  assert.deepEqual(e2.resources?.map((r) => r.name), ['extra']);
  d.call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.endpoint, response_nonce: e2.nonce }));

  // Back to the base snapshot: the extra cluster and its endpoints are removed.
  cache.set('default.api', baseSnapshot(1));
  const removals = [await d.next(), await d.next()].sort((a, b) => (a.type_url ?? '').localeCompare(b.type_url ?? ''));
  assert.deepEqual(removals.map((r) => [r.type_url, r.removed_resources, r.resources?.length]), [
    [XDS_TYPE_URL.cluster, ['extra'], 0],
    [XDS_TYPE_URL.endpoint, ['extra'], 0],
  ]);
  await other.none();
  d.call.end();
  other.call.end();
});

test('a proxy is refused with a reason by the default authenticator and for a bad node id', async () => {
  const refusing = new AdsServer({ cache, insights, log, address: '127.0.0.1', port: 0 });
  const port = await refusing.start();
  const c = new AdsClient(`127.0.0.1:${port}`, credentials.createInsecure());
  try {
    const err = await new Promise<{ code?: number; details?: string }>((resolve) => {
      const call = c.makeBidiStreamRequest<Buffer, Buffer>(ADS_SERVICE.StreamAggregatedResources!.path, (b) => b, (b) => b);
      call.on('error', resolve);
      call.on('data', () => {});
      call.write(adsCodec.encodeRequest({ node: nodeOf('default.web'), type_url: XDS_TYPE_URL.cluster }));
    });
    assert.equal(err.code, status.UNAUTHENTICATED);
    assert.match(err.details ?? '', /tokens are not implemented yet/);
  } finally {
    c.close();
    await refusing.stop();
  }
  const bad = open<AdsDiscoveryResponse>(ADS_SERVICE.StreamAggregatedResources!.path, adsCodec.decodeResponse);
  bad.call.write(adsCodec.encodeRequest({ node: nodeOf('no-dot'), type_url: XDS_TYPE_URL.cluster }));
  await new Promise((r) => setTimeout(r, 300));
  assert.match(bad.error?.message ?? '', /is not <mesh>.<name>/);
});
