import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { credentials, Metadata, Server, ServerCredentials, type ServerDuplexStream, status } from '@grpc/grpc-js';
import { ADS_SERVICE, adsCodec, type AdsDiscoveryRequest, createLogger, XDS_TYPE_URL } from '@meshfed/shared';
import { AdsRelay } from './ads-relay.js';
import { Backoff } from './backoff.js';
import { Upstream } from './upstream.js';

type Duplex = ServerDuplexStream<Buffer, Buffer>;

/** An in-process ADS server standing in for the zone: records each stream's requests and metadata. */
async function fakeZone() {
  const streams: { requests: AdsDiscoveryRequest[]; metadata: Metadata; call: Duplex; ended: boolean }[] = [];
  const server = new Server();
  server.addService(ADS_SERVICE, {
    StreamAggregatedResources: (call: Duplex) => {
      const s = { requests: [] as AdsDiscoveryRequest[], metadata: call.metadata, call, ended: false };
      streams.push(s);
      call.on('data', (f: Buffer) => {
        const d = adsCodec.decodeRequest(f);
        if (d.ok) s.requests.push(d.value);
      });
      call.on('end', () => {
        s.ended = true;
        call.end();
      });
      call.on('error', () => undefined);
    },
    DeltaAggregatedResources: (call: Duplex) => call.emit('error', { code: status.UNIMPLEMENTED }),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, streams, stop: () => server.forceShutdown() };
}

async function until(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('the upstream stream is redialled when the zone ends it: node, secrets and the app\'s requests again; stop half-closes it', async (t) => {
  const zone = await fakeZone();
  t.after(zone.stop);
  const log = createLogger({ component: 'test', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  const node = { id: 'default.web', locality: { zone: 'zone-1' } };
  const relay = new AdsRelay({ node, secretNames: ['identity_cert:secret:default'] });
  const upstream = new Upstream({
    address: `127.0.0.1:${zone.port}`, credentials: credentials.createInsecure(), token: 'tok', log,
    opened: () => relay.upstreamOpened(), closed: () => relay.upstreamClosed(), response: () => undefined,
    backoff: new Backoff(20, 100),
  });
  upstream.start();
  await until('the first stream', () => zone.streams[0]?.requests.length === 1);
  const first = zone.streams[0]!;
  assert.deepEqual(first.metadata.get('authorization'), ['Bearer tok']);
  assert.equal(first.requests[0]!.node?.id, 'default.web');
  assert.equal(first.requests[0]!.type_url, XDS_TYPE_URL.secret);

  // The app subscribes to clusters on the live stream, then the zone goes away mid-stream.
  relay.appOpened({ write: () => undefined });
  upstream.send(relay.appRequest({ node: { id: 'app' }, type_url: XDS_TYPE_URL.cluster, resource_names: [] })!);
  await until('the app\'s request upstream', () => first.requests.length === 2);
  assert.equal(first.requests[1]!.node, undefined, 'node only on the first request');
  first.call.emit('error', { code: status.UNAVAILABLE, details: 'zone restarting' });

  await until('a second stream with the replay', () => zone.streams[1]?.requests.length === 2);
  const second = zone.streams[1]!;
  assert.equal(second.requests[0]!.node?.id, 'default.web');
  assert.deepEqual(second.requests.map((r) => [r.type_url, r.response_nonce ?? '']), [[XDS_TYPE_URL.secret, ''], [XDS_TYPE_URL.cluster, '']]);

  await upstream.stop();
  assert.equal(second.ended, true, 'the zone saw the stream end cleanly');
  assert.equal(upstream.state, 'stopped');
});
