import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test, type TestContext } from 'node:test';
import { credentials, ServerCredentials, status } from '@grpc/grpc-js';
import {
  ADS_SERVICE, AdsClient, adsCodec, type AdsDeltaDiscoveryResponse, type AdsDiscoveryResponse, clientCredentials, createLogger, type Decoded, generateCa,
  issueServerCertificate, serverCredentials, Telemetry, unpack, XDS_TYPE_URL,
} from '@meshfed/shared';
import { AdsServer, type AdsServerOptions } from './ads-server.js';
import {
  adsClient, deltaStream, eventually, freezableRelay, nodeOf, openStream, sample, scrape, sotwStream,
} from './ads-test-client.test-support.js';
import { allowAll, type ProxyIdentity } from './auth.js';
import { baseResources, baseSnapshot, edsCluster, loadAssignment, routeConfig } from './fixtures.test-support.js';
import { ProxyInsights } from './proxy-insights.js';
import { makeSnapshot } from './snapshot.js';
import { SnapshotCache } from './snapshot-cache.js';

const log = createLogger({ component: 'ads-test', level: 'fatal' });
const cache = new SnapshotCache();
const insights = new ProxyInsights();
// Plaintext: these tests are about the protocol; TLS has a test of its own below.
const plaintext = ServerCredentials.createInsecure();
const server = new AdsServer({ cache, insights, log, address: '127.0.0.1', port: 0, credentials: plaintext, authenticate: allowAll });
let client: AdsClient;

before(async () => {
  const port = await server.start();
  client = new AdsClient(`127.0.0.1:${port}`, credentials.createInsecure());
});
after(async () => {
  // client is unset if the server failed to start; the server is stopped either way.
  client?.close();
  await server.stop();
});

function open<T>(path: string, decode: (b: Buffer) => Decoded<T>) {
  return openStream(client, path, decode);
}


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
  cache.set('zoneingress:ingress-1', baseSnapshot(1));
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
  assert.equal(insights.get('zoneingress:ingress-1')?.proxyType, 'ingress');

  // One more cluster: only it travels; the other proxy hears nothing.
  const res = baseResources(1);
  cache.set('default.api', makeSnapshot({ ...res, cluster: { backend: edsCluster('backend'), extra: edsCluster('extra') }, endpoint: { ...res.endpoint, extra: loadAssignment('extra', 9090) } }));
  const c2 = await d.next();
  assert.equal(c2.type_url, XDS_TYPE_URL.cluster);
  assert.deepEqual(c2.resources?.map((r) => r.name), ['extra']);
  await d.none();
  // EDS is by name: the extra endpoints travel once the proxy, having the cluster, subscribes them.
  d.call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.cluster, response_nonce: c2.nonce }));
  d.call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.endpoint, resource_names_subscribe: ['extra'] }));
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
  const refusing = new AdsServer({ cache, insights, log, address: '127.0.0.1', port: 0, credentials: plaintext });
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
  const err = await bad.ended();
  assert.equal(err.code, status.INVALID_ARGUMENT);
  assert.match(err.details, /is not <mesh>.<name>/);
});

/** A server of its own for one test, stopped after it; its log lines are kept, parsed, for assertions. */
async function serve(t: TestContext, options: Partial<AdsServerOptions> = {}) {
  const logs: { level: string; msg: string; [k: string]: unknown }[] = [];
  const destination = new Writable({
    write: (chunk: Buffer, _e, cb) => {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line));
      cb();
    },
  });
  const own = {
    cache: new SnapshotCache(), insights: new ProxyInsights(), address: '127.0.0.1', port: 0, credentials: plaintext, authenticate: allowAll,
    log: createLogger({ component: 'ads-test', level: 'info', destination }), ...options,
  };
  const s = new AdsServer(own);
  const port = await s.start();
  const c = adsClient(port);
  t.after(async () => {
    c.close();
    await s.stop();
  });
  return { server: s, cache: own.cache, insights: own.insights, client: c, port, logs };
}

test('a second stream for a proxy id with a live stream is refused with ALREADY_EXISTS, naming the holder; the first is unaffected', async (t) => {
  const telemetry = new Telemetry({ service: 'ads-test' });
  t.after(() => telemetry.shutdown());
  const { server, cache: c, insights: ins, client: cl, logs } = await serve(t, { telemetry });
  c.set('default.dup', baseSnapshot(1));
  const first = sotwStream(cl);
  first.call.write(adsCodec.encodeRequest({ node: nodeOf('default.dup'), type_url: XDS_TYPE_URL.cluster }));
  const cds = await first.next();
  first.call.write(adsCodec.encodeRequest({ type_url: XDS_TYPE_URL.cluster, version_info: cds.version_info, response_nonce: cds.nonce }));
  const holderPeer = logs.find((l) => l.msg === 'xDS: proxy connected' && l['proxyId'] === 'default.dup')?.['peer'];
  assert.match(String(holderPeer), /127\.0\.0\.1:\d+/);

  for (const open2 of [sotwStream, deltaStream]) {
    const second = open2(cl);
    const req = { node: nodeOf('default.dup'), type_url: XDS_TYPE_URL.cluster };
    second.call.write(open2 === sotwStream ? adsCodec.encodeRequest(req) : adsCodec.encodeDeltaRequest(req));
    const err = await second.ended();
    assert.equal(err.code, status.ALREADY_EXISTS);
    assert.ok(err.details.includes(`proxy "default.dup" already has a live xDS stream (sotw) from ${String(holderPeer)} since `), err.details);
    assert.match(err.details, /since \d{4}-\d\d-\d\dT[\d:.]+Z; this stream from 127\.0\.0\.1:\d+ is refused/);
  }
  assert.equal(ins.get('default.dup')?.refusedDuplicates, 2);
  assert.match(ins.get('default.dup')?.lastRefusedDuplicate?.peer ?? '', /127\.0\.0\.1:\d+/);
  assert.equal(ins.get('default.dup')?.streams, 1, 'a refused stream is not counted as connected');
  assert.equal(ins.get('default.dup')?.connected, true);
  assert.deepEqual(server.connectedProxyIds(), ['default.dup']);
  assert.equal(logs.filter((l) => l.level === 'warn' && l.msg === 'xDS: refused a proxy' && /already has a live/.test(String(l['reason']))).length, 2);
  assert.equal(sample(await scrape(telemetry), 'meshfed_xds_streams_refused_total', { reason: 'duplicate' }), 2);

  // The holder still gets its pushes.
  c.set('default.dup', makeSnapshot({ ...baseResources(1), cluster: { backend: edsCluster('backend', 9) } }));
  assert.equal((await first.next()).type_url, XDS_TYPE_URL.cluster);
  assert.equal(first.error, undefined);

  // Once it is gone, the id is free again.
  first.call.end();
  await eventually(() => server.connectedProxyIds().length === 0, 'the first stream to close');
  const again = sotwStream(cl);
  again.call.write(adsCodec.encodeRequest({ node: nodeOf('default.dup'), type_url: XDS_TYPE_URL.cluster }));
  assert.equal((await again.next()).type_url, XDS_TYPE_URL.cluster);
  again.call.end();
});

test('keepalive closes the stream of a peer that went silent, so the proxy can reconnect under its id', async (t) => {
  const { server, cache: c, port } = await serve(t, { keepalive: { timeMs: 200, timeoutMs: 200 } });
  c.set('default.ka', baseSnapshot(1));
  const relay = await freezableRelay(port);
  const viaRelay = adsClient(relay.port);
  t.after(() => {
    viaRelay.close();
    relay.close();
  });
  const dying = sotwStream(viaRelay);
  dying.call.write(adsCodec.encodeRequest({ node: nodeOf('default.ka'), type_url: XDS_TYPE_URL.cluster }));
  await dying.next();
  relay.freeze();
  await eventually(() => !server.isConnected('default.ka'), 'keepalive to drop the silent peer', 5000);
  const direct = adsClient(port);
  t.after(() => direct.close());
  const reborn = sotwStream(direct);
  reborn.call.write(adsCodec.encodeRequest({ node: nodeOf('default.ka'), type_url: XDS_TYPE_URL.cluster }));
  assert.equal((await reborn.next()).type_url, XDS_TYPE_URL.cluster);
  reborn.call.end();
});

test('a response left unanswered past ackTimeoutMs ends the stream with UNAVAILABLE and is recorded; an answering proxy is left alone', async (t) => {
  const telemetry = new Telemetry({ service: 'ads-test' });
  t.after(() => telemetry.shutdown());
  const { server, cache: c, insights: ins, client: cl, logs } = await serve(t, { telemetry, ackTimeoutMs: 150 });
  for (const id of ['default.mute', 'default.mute-delta', 'default.chatty']) c.set(id, baseSnapshot(1));

  const started = Date.now();
  const mute = sotwStream(cl);
  mute.call.write(adsCodec.encodeRequest({ node: nodeOf('default.mute'), type_url: XDS_TYPE_URL.cluster }));
  await mute.next();
  const muteDelta = deltaStream(cl);
  muteDelta.call.write(adsCodec.encodeDeltaRequest({ node: nodeOf('default.mute-delta'), type_url: XDS_TYPE_URL.cluster }));
  await muteDelta.next();
  const chatty = sotwStream(cl);
  chatty.call.write(adsCodec.encodeRequest({ node: nodeOf('default.chatty'), type_url: XDS_TYPE_URL.cluster }));
  const ack = (r: AdsDiscoveryResponse) => chatty.call.write(adsCodec.encodeRequest({ type_url: r.type_url!, version_info: r.version_info, response_nonce: r.nonce }));
  ack(await chatty.next());

  for (const s of [mute, muteDelta]) {
    const err = await s.ended(2000);
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.details, /^the cluster response went unanswered \(no ACK or NACK\) for \d+ ms, past the 150 ms ACK timeout/);
  }
  assert.ok(Date.now() - started >= 150, 'not before the timeout');
  for (const id of ['default.mute', 'default.mute-delta']) {
    const cluster = ins.get(id)?.types.cluster;
    assert.equal(cluster?.stalls, 1, id);
    assert.ok((cluster?.lastStall?.unansweredMs ?? 0) >= 150);
    assert.equal(ins.get(id)?.connected, false);
  }
  assert.equal(logs.filter((l) => l.level === 'warn' && /stopped answering/.test(l.msg)).length, 2);
  const text = await scrape(telemetry);
  assert.equal(sample(text, 'meshfed_xds_stalls_total', { type: 'cluster', protocol: 'sotw' }), 1);
  assert.equal(sample(text, 'meshfed_xds_stalls_total', { type: 'cluster', protocol: 'delta' }), 1);

  // The proxy that answers keeps its stream through several timeouts, pushes included.
  for (let i = 2; i <= 5; i++) {
    c.set('default.chatty', makeSnapshot({ ...baseResources(1), cluster: { backend: edsCluster('backend', i) } }));
    ack(await chatty.next());
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(chatty.error, undefined);
  assert.deepEqual(server.connectedProxyIds(), ['default.chatty']);
  assert.equal(ins.get('default.chatty')?.types.cluster?.stalls, 0);
  chatty.call.end();
});

test('metrics: streams by protocol and proxy type, responses, bytes, ACKs, NACKs, refusals by reason, push latency (held-back delta pushes too), spans', async (t) => {
  const telemetry = new Telemetry({ service: 'ads-test' });
  t.after(() => telemetry.shutdown());
  const authenticate = (_m: unknown, node: ProxyIdentity) => {
    if (node.nodeId === 'default.nope') return { ok: false as const, code: status.UNAUTHENTICATED, reason: 'no token' };
    if (node.nodeId === 'default.other-mesh') return { ok: false as const, code: status.PERMISSION_DENIED, reason: 'wrong mesh' };
    if (node.nodeId === 'default.boom') throw new Error('token store down');
    return { ok: true as const, proxyId: node.nodeId };
  };
  const { server, cache: c, client: cl } = await serve(t, { telemetry, authenticate });
  c.set('default.m', baseSnapshot(1));
  c.set('default.md', baseSnapshot(1));
  c.set('ingress-m', baseSnapshot(1));

  const s = sotwStream(cl);
  s.call.write(adsCodec.encodeRequest({ node: nodeOf('default.m'), type_url: XDS_TYPE_URL.cluster }));
  const cds = await s.next();
  s.call.write(adsCodec.encodeRequest({ type_url: XDS_TYPE_URL.cluster, version_info: cds.version_info, response_nonce: cds.nonce }));
  s.call.write(adsCodec.encodeRequest({ type_url: XDS_TYPE_URL.listener }));
  const lds = await s.next();
  s.call.write(adsCodec.encodeRequest({ type_url: XDS_TYPE_URL.listener, response_nonce: lds.nonce, error_detail: { code: 3, message: 'no' } }));
  s.call.write(adsCodec.encodeRequest({ type_url: 'type.googleapis.com/not.a.Type' }));
  const ingress = sotwStream(cl);
  ingress.call.write(adsCodec.encodeRequest({ node: nodeOf('ingress-m', 'ingress'), type_url: XDS_TYPE_URL.cluster }));
  await ingress.next();

  const d = deltaStream(cl);
  d.call.write(adsCodec.encodeDeltaRequest({ node: nodeOf('default.md'), type_url: XDS_TYPE_URL.cluster }));
  const dc = await d.next();
  // A change while the delta response is unanswered is held back until the ACK: its latency counts the wait.
  c.set('default.md', makeSnapshot({ ...baseResources(1), cluster: { backend: edsCluster('backend', 11) } }));
  await d.none(150);
  d.call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.cluster, response_nonce: dc.nonce }));
  const dc2 = await d.next();
  d.call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.cluster, response_nonce: dc2.nonce }));

  // A SotW push on change.
  c.set('default.m', makeSnapshot({ ...baseResources(1), cluster: { backend: edsCluster('backend', 12) } }));
  const cds2 = await s.next();
  s.call.write(adsCodec.encodeRequest({ type_url: XDS_TYPE_URL.cluster, version_info: cds2.version_info, response_nonce: cds2.nonce }));

  for (const [id, code] of [['default.nope', status.UNAUTHENTICATED], ['default.other-mesh', status.PERMISSION_DENIED], ['default.boom', status.INTERNAL]] as const) {
    const r = sotwStream(cl);
    r.call.write(adsCodec.encodeRequest({ node: nodeOf(id), type_url: XDS_TYPE_URL.cluster }));
    assert.equal((await r.ended()).code, code);
  }
  const garbage = sotwStream(cl);
  garbage.call.write(Buffer.from([0xff, 0xff, 0xff]));
  assert.equal((await garbage.ended()).code, status.INVALID_ARGUMENT);
  await s.none(50);

  let text = await scrape(telemetry);
  const sotwCluster = { type: 'cluster', protocol: 'sotw' };
  assert.equal(sample(text, 'meshfed_xds_streams_active', { protocol: 'sotw', proxy_type: 'dataplane' }), 1);
  assert.equal(sample(text, 'meshfed_xds_streams_active', { protocol: 'sotw', proxy_type: 'ingress' }), 1);
  assert.equal(sample(text, 'meshfed_xds_streams_active', { protocol: 'delta', proxy_type: 'dataplane' }), 1);
  assert.equal(sample(text, 'meshfed_xds_responses_sent_total', sotwCluster), 3);
  assert.equal(sample(text, 'meshfed_xds_responses_sent_total', { type: 'cluster', protocol: 'delta' }), 2);
  assert.ok((sample(text, 'meshfed_xds_bytes_sent_total', sotwCluster) ?? 0) > 3 * 50);
  assert.equal(sample(text, 'meshfed_xds_acks_total', sotwCluster), 2);
  assert.equal(sample(text, 'meshfed_xds_acks_total', { type: 'cluster', protocol: 'delta' }), 2);
  assert.equal(sample(text, 'meshfed_xds_nacks_total', { type: 'listener', protocol: 'sotw' }), 1);
  assert.equal(sample(text, 'meshfed_xds_protocol_errors_total', { kind: 'unknown-type', protocol: 'sotw' }), 1);
  for (const reason of ['unauthenticated', 'permission-denied', 'auth-error', 'bad-first-request']) {
    assert.equal(sample(text, 'meshfed_xds_streams_refused_total', { reason }), 1, reason);
  }
  // Only changes are timed, not first responses: one SotW push, one held-back delta push.
  assert.equal(sample(text, 'meshfed_xds_push_latency_seconds_count', sotwCluster), 1);
  assert.ok((sample(text, 'meshfed_xds_push_latency_seconds_sum', sotwCluster) ?? 1) < 0.1);
  assert.equal(sample(text, 'meshfed_xds_push_latency_seconds_count', { type: 'cluster', protocol: 'delta' }), 1);
  assert.ok((sample(text, 'meshfed_xds_push_latency_seconds_sum', { type: 'cluster', protocol: 'delta' }) ?? 0) >= 0.14, 'the wait for the ACK is counted');
  for (const leak of ['default.m', 'ingress-m', cds.version_info!, 'no token']) assert.ok(!text.includes(leak), `${leak} must not appear in metrics`);

  const push = telemetry.spans.list().find((sp) => sp.name === 'xds.push' && sp.attributes['meshfed.xds.version'] === cds.version_info);
  assert.deepEqual(push && { ...push.attributes }, {
    'meshfed.xds.proxy_id': 'default.m', 'meshfed.xds.type': 'cluster', 'meshfed.xds.protocol': 'sotw', 'meshfed.xds.version': cds.version_info,
    'meshfed.xds.resources': 1, 'meshfed.xds.bytes': push?.attributes['meshfed.xds.bytes'],
  });

  s.call.end();
  await eventually(() => !server.isConnected('default.m'), 'the SotW stream to close');
  text = await scrape(telemetry);
  assert.equal(sample(text, 'meshfed_xds_streams_active', { protocol: 'sotw', proxy_type: 'dataplane' }), 0);
  ingress.call.end();
  d.call.end();
});

test('a proxy that connects before its configuration exists: the owner hears of it, insights show its problem, it is served once the snapshot appears', async (t) => {
  const ins = new ProxyInsights();
  const c = new SnapshotCache();
  const events: string[] = [];
  let connectedDuringCallback: string[] = [];
  let srv: AdsServer | undefined;
  const missing = (id: string) => `Dataplane "${id}" does not exist in this zone: register it`;
  const { server, client: cl, logs } = await serve(t, {
    cache: c, insights: ins,
    // What the generator side does: compute for connected proxies, or say why it cannot.
    onProxyConnected: (id, identity) => {
      events.push(`+${id} ${identity.proxyType} ${identity.nodeId}`);
      connectedDuringCallback = srv?.connectedProxyIds() ?? [];
      if (id === 'default.throws') throw new Error('generator bug');
      if (!c.get(id)) ins.setProblem(id, missing(id));
    },
    onProxyDisconnected: (id) => events.push(`-${id}`),
  });
  srv = server;

  const s = sotwStream(cl);
  s.call.write(adsCodec.encodeRequest({ node: nodeOf('default.wait'), type_url: XDS_TYPE_URL.cluster }));
  await eventually(() => events.length === 1, 'onProxyConnected');
  assert.deepEqual(events, ['+default.wait dataplane default.wait']);
  assert.deepEqual(connectedDuringCallback, ['default.wait']);
  assert.deepEqual(server.connectedProxyIds(), ['default.wait']);
  await s.none(150);
  assert.equal(ins.get('default.wait')?.problem, missing('default.wait'));

  c.set('default.wait', baseSnapshot(1));
  assert.equal((await s.next()).type_url, XDS_TYPE_URL.cluster, 'served as soon as its snapshot exists');
  assert.equal(ins.setProblem('default.wait', undefined), true);
  assert.equal('problem' in (ins.get('default.wait') ?? {}), false);

  // A problem survives a reconnect until the generator clears it.
  ins.setProblem('default.wait', 'Mesh "default" has no CA yet');
  s.call.end();
  await eventually(() => events.includes('-default.wait'), 'onProxyDisconnected');
  assert.deepEqual(server.connectedProxyIds(), []);
  const again = sotwStream(cl);
  again.call.write(adsCodec.encodeRequest({ node: nodeOf('default.wait'), type_url: XDS_TYPE_URL.cluster }));
  await again.next();
  assert.equal(ins.get('default.wait')?.streams, 2);
  assert.equal(ins.get('default.wait')?.problem, 'Mesh "default" has no CA yet');
  assert.equal(ins.setProblem('default.never-seen', 'x'), false);

  // An owner's callback that throws is logged; the stream is served all the same.
  c.set('default.throws', baseSnapshot(1));
  const th = sotwStream(cl);
  th.call.write(adsCodec.encodeRequest({ node: nodeOf('default.throws'), type_url: XDS_TYPE_URL.cluster }));
  await th.next();
  await th.none(50);
  assert.equal(th.error, undefined);
  assert.ok(logs.some((l) => l.level === 'error' && l['callback'] === 'onProxyConnected'));
  again.call.end();
  th.call.end();
});

test('garbage: a first frame that does not decode or names no node.id is refused with INVALID_ARGUMENT; later garbage is ignored up to a bound', async (t) => {
  const { cache: c, client: cl } = await serve(t, { maxGarbageFrames: 10 });
  const junk = Buffer.from([0xff, 0xff, 0xff]);
  for (const open2 of [sotwStream, deltaStream]) {
    const g = open2(cl);
    g.call.write(junk);
    const err = await g.ended();
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.details, /^the first request does not decode: cannot decode envoy\.service\.discovery\.v3\.(Delta)?DiscoveryRequest: /);
  }
  const anonymous = sotwStream(cl);
  anonymous.call.write(adsCodec.encodeRequest({ type_url: XDS_TYPE_URL.cluster }));
  const err = await anonymous.ended();
  assert.equal(err.code, status.INVALID_ARGUMENT);
  assert.equal(err.details, 'the first request carries no node.id');

  c.set('default.noisy', baseSnapshot(1));
  const n = deltaStream(cl);
  n.call.write(adsCodec.encodeDeltaRequest({ node: nodeOf('default.noisy'), type_url: XDS_TYPE_URL.cluster }));
  const cds = await n.next();
  // Nine in a row are survived; a good request resets the count.
  for (let i = 0; i < 9; i++) n.call.write(junk);
  n.call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.cluster, response_nonce: cds.nonce }));
  for (let i = 0; i < 9; i++) n.call.write(junk);
  n.call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.listener }));
  assert.equal((await n.next()).type_url, XDS_TYPE_URL.listener, 'still served');
  assert.equal(n.error, undefined);
  for (let i = 0; i < 10; i++) n.call.write(junk);
  const ended = await n.ended();
  assert.equal(ended.code, status.INVALID_ARGUMENT);
  assert.match(ended.details, /^10 requests in a row do not decode as Envoy DeltaDiscoveryRequests \(last: cannot decode/);
});

test('delta subscriptions: EDS and RDS serve only the names subscribed, later (un)subscribes on the live stream; CDS is wildcard', async (t) => {
  const { cache: c, client: cl } = await serve(t);
  const snap = (ports: Record<string, number>) => makeSnapshot({
    cluster: { a: edsCluster('a'), b: edsCluster('b'), c: edsCluster('c') },
    endpoint: Object.fromEntries(Object.entries(ports).map(([n, p]) => [n, loadAssignment(n, p)])),
    route: { r1: routeConfig('r1', 'a'), r2: routeConfig('r2', 'b') },
  });
  c.set('default.subs', snap({ a: 1, b: 1, c: 1 }));
  const d = deltaStream(cl);
  const names = (r: AdsDeltaDiscoveryResponse) => [...(r.resources ?? []).map((x) => x.name), ...(r.removed_resources ?? []).map((n) => `-${n}`)];
  const ack = (r: AdsDeltaDiscoveryResponse) => d.call.write(adsCodec.encodeDeltaRequest({ type_url: r.type_url!, response_nonce: r.nonce }));
  const sub = (type: string, subscribe: string[], unsubscribe: string[] = []) =>
    d.call.write(adsCodec.encodeDeltaRequest({ type_url: type, resource_names_subscribe: subscribe, resource_names_unsubscribe: unsubscribe }));

  d.call.write(adsCodec.encodeDeltaRequest({ node: nodeOf('default.subs'), type_url: XDS_TYPE_URL.cluster }));
  const cds = await d.next();
  assert.deepEqual(names(cds), ['a', 'b', 'c'], 'a first request naming nothing is a wildcard');
  ack(cds);
  sub(XDS_TYPE_URL.endpoint, ['a']);
  const e1 = await d.next();
  assert.deepEqual(names(e1), ['a']);
  ack(e1);
  sub(XDS_TYPE_URL.route, ['r2']);
  const r1 = await d.next();
  assert.deepEqual([r1.type_url, ...names(r1)], [XDS_TYPE_URL.route, 'r2']);
  ack(r1);

  sub(XDS_TYPE_URL.endpoint, ['b']);
  const e2 = await d.next();
  assert.deepEqual(names(e2), ['b'], 'a later subscribe sends only the new name');
  ack(e2);
  await d.none(100);

  c.set('default.subs', snap({ a: 2, b: 1, c: 2 }));
  const e3 = await d.next();
  assert.deepEqual(names(e3), ['a'], 'c changed too, but is not subscribed');
  ack(e3);
  await d.none(100);

  sub(XDS_TYPE_URL.endpoint, [], ['a']);
  await d.none(100);
  c.set('default.subs', snap({ a: 3, b: 1, c: 2 }));
  await d.none(100);
  c.set('default.subs', snap({ a: 3, b: 2, c: 2 }));
  const e4 = await d.next();
  assert.deepEqual(names(e4), ['b'], 'unsubscribed a is no longer updated');
  ack(e4);

  sub(XDS_TYPE_URL.endpoint, ['a']);
  const e5 = await d.next();
  assert.deepEqual(names(e5), ['a'], 'a resubscribed name is sent again: the proxy dropped it');
  ack(e5);

  sub(XDS_TYPE_URL.endpoint, ['*']);
  const e6 = await d.next();
  assert.deepEqual(names(e6), ['c'], 'turning the wildcard on sends what the proxy lacks');
  ack(e6);
  sub(XDS_TYPE_URL.endpoint, [], ['b']);
  const e7 = await d.next();
  assert.deepEqual(names(e7), ['b'], 'unsubscribing a name the wildcard still covers sends it again');
  ack(e7);
  await d.none(100);
  d.call.end();
});

test('with TLS credentials: a client trusting the CA is served; a plaintext client and one trusting another CA are refused', async (t) => {
  const [ca, otherCa] = await Promise.all([generateCa({ commonName: 'xds test CA' }), generateCa({ commonName: 'someone else' })]);
  const pair = await issueServerCertificate(ca, { commonName: 'zone', ipAddresses: ['127.0.0.1'] });
  const { cache: c, port } = await serve(t, { credentials: serverCredentials(pair) });
  c.set('default.tls', baseSnapshot(1));
  const clients = [ca, otherCa].map((authority) => new AdsClient(`127.0.0.1:${port}`, clientCredentials({ caPem: authority.certPem })));
  const plain = adsClient(port);
  t.after(() => {
    for (const cl of [...clients, plain]) cl.close();
  });

  const trusted = sotwStream(clients[0]!);
  trusted.call.write(adsCodec.encodeRequest({ node: nodeOf('default.tls'), type_url: XDS_TYPE_URL.cluster }));
  assert.deepEqual((await trusted.next()).resources?.map((r) => unpack(r)['name']), ['backend']);
  trusted.call.end();

  for (const [what, cl] of [['plaintext', plain], ['another CA', clients[1]!]] as const) {
    const s = sotwStream(cl);
    s.call.write(adsCodec.encodeRequest({ node: nodeOf('default.tls'), type_url: XDS_TYPE_URL.cluster }));
    const err = await s.ended(5000);
    assert.equal(err.code, status.UNAVAILABLE, `${what}: ${err.details}`);
  }
});

test('a failure while setting up an admitted stream ends that stream with INTERNAL and is logged; the server goes on serving', async (t) => {
  class FailingInsights extends ProxyInsights {
    override connected(proxyId: string, proxyType: string, protocol: 'sotw' | 'delta'): void {
      if (proxyId === 'default.broken') throw new Error('insights are broken');
      super.connected(proxyId, proxyType, protocol);
    }
  }
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  const { server, cache: c, client: cl, logs } = await serve(t, { insights: new FailingInsights() });
  c.set('default.broken', baseSnapshot(1));
  c.set('default.fine', baseSnapshot(1));

  const broken = deltaStream(cl);
  broken.call.write(adsCodec.encodeDeltaRequest({ node: nodeOf('default.broken'), type_url: XDS_TYPE_URL.cluster }));
  const err = await broken.ended();
  assert.equal(err.code, status.INTERNAL);
  assert.match(err.details, /failed to set up this stream/);
  const line = logs.find((l) => l.level === 'error' && /failed to set up an admitted stream/.test(l.msg));
  assert.match(JSON.stringify(line?.['err']), /insights are broken/);
  assert.equal(server.isConnected('default.broken'), false, 'the id it claimed is released');

  const fine = sotwStream(cl);
  fine.call.write(adsCodec.encodeRequest({ node: nodeOf('default.fine'), type_url: XDS_TYPE_URL.cluster }));
  assert.equal((await fine.next()).type_url, XDS_TYPE_URL.cluster);
  fine.call.end();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(unhandled, []);
});

test('a stream ends when the token it was opened with expires', async (t) => {
  const expiresAt = new Date(Date.now() + 400);
  const { cache: c, client: cl, logs } = await serve(t, { authenticate: (_md, node) => ({ ok: true, proxyId: node.nodeId, expiresAt }) });
  c.set('default.short', baseSnapshot(1));
  const s = sotwStream(cl);
  s.call.write(adsCodec.encodeRequest({ node: nodeOf('default.short'), type_url: XDS_TYPE_URL.cluster }));
  await s.next();
  const err = await s.ended(5000);
  assert.equal(err.code, status.UNAUTHENTICATED);
  assert.match(err.details, new RegExp(`expired at ${expiresAt.toISOString().replace(/\./g, '\\.')}`));
  assert.ok(logs.some((l) => l.msg === 'xDS: the token of a proxy expired; ending its stream'));
});
