import assert from 'node:assert/strict';
import { test } from 'node:test';
import { credentials, type ServerDuplexStream, Server, ServerCredentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { ADS_SERVICE, AdsClient, adsCodec, type AdsDiscoveryRequest } from './ads-service.js';
import { fromStruct, pack, toStruct, unpack, XDS_TYPE_URL } from './resources.js';

const node = { id: 'default.web-1', cluster: 'web', metadata: toStruct({ proxyType: 'dataplane', ports: [1, 2] }) };

test('DiscoveryRequest and DiscoveryResponse round-trip through the codec', () => {
  const request: AdsDiscoveryRequest = {
    version_info: 'v1',
    node,
    resource_names: ['backend'],
    type_url: XDS_TYPE_URL.endpoint,
    response_nonce: 'n1',
    error_detail: { code: 3, message: 'listener inbound:10.0.0.1:80: bad filter' },
  };
  const decoded = adsCodec.decodeRequest(adsCodec.encodeRequest(request));
  assert.ok(decoded.ok);
  assert.equal(decoded.value.node?.id, 'default.web-1');
  assert.deepEqual(fromStruct(decoded.value.node?.metadata), { proxyType: 'dataplane', ports: [1, 2] });
  assert.deepEqual(decoded.value.resource_names, ['backend']);
  assert.equal(decoded.value.error_detail?.message, 'listener inbound:10.0.0.1:80: bad filter');
  assert.equal(decoded.value.error_detail?.code, 3);

  const cluster = pack(XDS_TYPE_URL.cluster, { name: 'backend', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } });
  const response = adsCodec.decodeResponse(adsCodec.encodeResponse({
    version_info: 'abc', resources: [cluster], type_url: XDS_TYPE_URL.cluster, nonce: '1', control_plane: { identifier: 'zone-1' },
  }));
  assert.ok(response.ok);
  assert.equal(response.value.nonce, '1');
  assert.equal(response.value.resources?.length, 1);
  const resource = response.value.resources?.[0];
  assert.ok(resource);
  assert.deepEqual(unpack(resource), unpack(cluster));
});

test('delta messages round-trip through the codec', () => {
  const request = adsCodec.decodeDeltaRequest(adsCodec.encodeDeltaRequest({
    node,
    type_url: XDS_TYPE_URL.cluster,
    resource_names_subscribe: ['*'],
    initial_resource_versions: { backend: 'h1', web: 'h2' },
    response_nonce: '',
  }));
  assert.ok(request.ok);
  assert.deepEqual(request.value.initial_resource_versions, { backend: 'h1', web: 'h2' });
  assert.deepEqual(request.value.resource_names_unsubscribe, [], 'repeated fields decode to []');

  const listener = pack(XDS_TYPE_URL.listener, { name: 'outbound:127.0.0.1:10001' });
  const response = adsCodec.decodeDeltaResponse(adsCodec.encodeDeltaResponse({
    system_version_info: 's1',
    type_url: XDS_TYPE_URL.listener,
    resources: [{ name: 'outbound:127.0.0.1:10001', version: 'h3', resource: listener }],
    removed_resources: ['outbound:127.0.0.1:10002'],
    nonce: '7',
  }));
  assert.ok(response.ok);
  assert.equal(response.value.resources?.[0]?.version, 'h3');
  assert.deepEqual(response.value.removed_resources, ['outbound:127.0.0.1:10002']);
  assert.ok(Buffer.isBuffer(response.value.resources?.[0]?.resource?.value), 'Any values decode as Buffers');
});

test('decoding garbage never throws', () => {
  const frames = [Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from([0x0a, 0x10, 0x01]), Buffer.from('not protobuf at all'), new Uint8Array([0x12])];
  for (const frame of frames) {
    for (const decode of [adsCodec.decodeRequest, adsCodec.decodeResponse, adsCodec.decodeDeltaRequest, adsCodec.decodeDeltaResponse]) {
      const result = decode(frame);
      if (!result.ok) assert.match(result.error, /^cannot decode envoy\.service\.discovery\.v3\./);
    }
  }
  const bad = adsCodec.decodeRequest(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  assert.equal(bad.ok, false);
  const empty = adsCodec.decodeRequest(Buffer.alloc(0));
  assert.ok(empty.ok, 'an empty frame is a valid, empty request');
  assert.deepEqual(empty.value.resource_names, []);
});

test('ADS_SERVICE carries frames over grpc-js between a server and AdsClient', async (t) => {
  const server = new Server();
  t.after(() => server.forceShutdown());
  server.addService(ADS_SERVICE, {
    StreamAggregatedResources: (call: ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (frame: Buffer) => {
        const request = adsCodec.decodeRequest(frame);
        if (!request.ok) return;
        call.write(adsCodec.encodeResponse({ version_info: '1', type_url: request.value.type_url ?? '', nonce: `to ${request.value.node?.id ?? '?'}`, resources: [] }));
      });
      call.on('end', () => call.end());
    },
    DeltaAggregatedResources: (call: ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (frame: Buffer) => {
        const request = adsCodec.decodeDeltaRequest(frame);
        if (!request.ok) return;
        call.write(adsCodec.encodeDeltaResponse({ type_url: request.value.type_url ?? '', nonce: 'd1', removed_resources: request.value.resource_names_subscribe ?? [] }));
      });
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const client = new AdsClient(`127.0.0.1:${port}`, credentials.createInsecure());
  t.after(() => client.close());
  const first = <T>(call: ClientDuplexStream<Buffer, Buffer>, decode: (b: Buffer) => T) =>
    new Promise<T>((resolve, reject) => {
      call.once('data', (b: Buffer) => resolve(decode(b)));
      call.once('error', reject);
    });
  const sotw = client.makeBidiStreamRequest<Buffer, Buffer>(ADS_SERVICE.StreamAggregatedResources!.path, (b) => b, (b) => b);
  const answer = first(sotw, adsCodec.decodeResponse);
  sotw.write(adsCodec.encodeRequest({ node, type_url: XDS_TYPE_URL.cluster }));
  const got = await answer;
  assert.ok(got.ok);
  assert.deepEqual([got.value.type_url, got.value.nonce], [XDS_TYPE_URL.cluster, 'to default.web-1']);
  sotw.end();

  const delta = client.makeBidiStreamRequest<Buffer, Buffer>(ADS_SERVICE.DeltaAggregatedResources!.path, (b) => b, (b) => b);
  const deltaAnswer = first(delta, adsCodec.decodeDeltaResponse);
  delta.write(adsCodec.encodeDeltaRequest({ node, type_url: XDS_TYPE_URL.listener, resource_names_subscribe: ['a'] }));
  const gotDelta = await deltaAnswer;
  assert.ok(gotDelta.ok);
  assert.deepEqual(gotDelta.value.removed_resources, ['a']);
  delta.end();
});
