import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adsCodec, type DeltaDiscoveryResponse, XDS_TYPE_URL } from '@meshfed/shared';
import { encodeDeltaResponse } from './ads-delta-encode.js';

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
