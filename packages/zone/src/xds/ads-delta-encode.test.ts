import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adsCodec, type DeltaDiscoveryResponse, XDS_TYPE_URL } from '@meshfed/shared';
import { encodeDeltaItems, encodeDeltaResponse } from './ads-delta-encode.js';
import { decodePlainAck } from './ads-delta-protocol.js';
import { edsCluster } from './fixtures.test-support.js';
import { makeSnapshot } from './snapshot.js';

const any = (n: number) => ({ type_url: XDS_TYPE_URL.cluster, value: Buffer.alloc(n, 7) });

test('the hand-encoded DeltaDiscoveryResponse is byte for byte what protobufjs writes', () => {
  const cases: DeltaDiscoveryResponse[] = [
    { type_url: XDS_TYPE_URL.cluster, nonce: 'n1', system_version_info: 'v', resources: [{ name: 'a', version: 'x', resource: any(3) }], removed_resources: [] },
    { type_url: XDS_TYPE_URL.cluster, nonce: '', system_version_info: '', resources: [], removed_resources: ['gone', 'also-gone'] },
    { type_url: XDS_TYPE_URL.endpoint, nonce: 'abc', resources: [{ name: 'é名', version: '', resource: any(0) }, { name: 'big', version: 'v2', resource: any(70_000) }, { name: 'no-resource', version: 'v3' }] },
    { type_url: XDS_TYPE_URL.secret, nonce: 'n'.repeat(200), system_version_info: 's'.repeat(300), resources: Array.from({ length: 50 }, (_, i) => ({ name: `r${i}`, version: `v${i}`, resource: any(i * 37) })) },
  ];
  for (const c of cases) {
    const fast = encodeDeltaResponse(c);
    assert.deepEqual(fast, adsCodec.encodeDeltaResponse(c));
    assert.equal(adsCodec.decodeDeltaResponse(fast).ok, true);
  }
});

test('a response encoded straight from items is byte for byte what protobufjs writes for the same response', () => {
  const cases = [
    { typeUrl: XDS_TYPE_URL.cluster, nonce: 'n1', version: 'v', items: [{ key: 'a', version: 'x', bytes: any(3).value }], removed: [] },
    { typeUrl: XDS_TYPE_URL.cluster, nonce: '', version: '', items: [], removed: ['gone', 'also-gone'] },
    { typeUrl: XDS_TYPE_URL.endpoint, nonce: 'abc', version: '0123456789abc', items: [{ key: 'é名', version: '', bytes: any(0).value }, { key: 'big', version: 'v2é', bytes: any(70_000).value }], removed: ['x'] },
    { typeUrl: XDS_TYPE_URL.secret, nonce: 'n'.repeat(200), version: 's'.repeat(300), items: Array.from({ length: 50 }, (_, i) => ({ key: `r${i}`.repeat(i), version: `v${i}`, bytes: any(i * 37).value })), removed: [] },
  ];
  for (const c of cases) {
    const fast = encodeDeltaItems(c.typeUrl, c.nonce, c.version, c.typeUrl, c.items, c.removed);
    const response: DeltaDiscoveryResponse = {
      type_url: c.typeUrl, nonce: c.nonce, system_version_info: c.version,
      resources: c.items.map((e) => ({ name: e.key, version: e.version, resource: { type_url: c.typeUrl, value: e.bytes } })), removed_resources: c.removed,
    };
    assert.deepEqual(fast, adsCodec.encodeDeltaResponse(response));
    assert.deepEqual(fast, encodeDeltaResponse(response));
  }
  // Snapshot entries travel as their pre-encoded Resource: the same bytes, mixed with plain items.
  const entries = [...makeSnapshot({ cluster: { a: edsCluster('a'), 'b-é': edsCluster('b-é') } }).types.cluster.entries.values()];
  const mixed = [entries[0]!, { key: 'plain', version: 'v', bytes: any(9).value }, entries[1]!];
  const fast = encodeDeltaItems(XDS_TYPE_URL.cluster, 'n', 'v1', XDS_TYPE_URL.cluster, mixed, ['gone']);
  assert.deepEqual(fast, adsCodec.encodeDeltaResponse({
    type_url: XDS_TYPE_URL.cluster, nonce: 'n', system_version_info: 'v1', removed_resources: ['gone'],
    resources: mixed.map((e) => ({ name: e.key, version: e.version, resource: { type_url: XDS_TYPE_URL.cluster, value: e.bytes } })),
  }));
});

test('a plain delta ACK decoded by hand is what the generic decoder gives; anything else goes the generic way', () => {
  const plain = [
    { type_url: XDS_TYPE_URL.cluster, response_nonce: 'abc123' },
    { type_url: XDS_TYPE_URL.listener, response_nonce: '' },
    { type_url: XDS_TYPE_URL.secret },
    { response_nonce: 'n'.repeat(300) },
    {},
  ];
  for (const r of plain) {
    const frame = adsCodec.encodeDeltaRequest(r);
    const generic = adsCodec.decodeDeltaRequest(frame);
    assert.ok(generic.ok);
    assert.deepEqual(decodePlainAck(frame), generic.value, JSON.stringify(r));
  }
  const other = [
    { type_url: XDS_TYPE_URL.cluster, response_nonce: 'n', error_detail: { code: 3, message: 'bad' } },
    { type_url: XDS_TYPE_URL.endpoint, resource_names_subscribe: ['a'] },
    { type_url: XDS_TYPE_URL.cluster, response_nonce: 'é' },
    { node: { id: 'x' }, type_url: XDS_TYPE_URL.cluster, response_nonce: 'n' },
  ];
  for (const r of other) assert.equal(decodePlainAck(adsCodec.encodeDeltaRequest(r)), undefined, JSON.stringify(r));
  assert.equal(decodePlainAck(Buffer.from([0x12, 0x05, 0x61])), undefined, 'a length past the end');
  assert.equal(decodePlainAck(Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0xff])), undefined, 'a runaway varint');
});
