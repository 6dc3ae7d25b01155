// The filter chains of a sidecar's inbound by mTLS mode (envoy-parts inboundChains): what PERMISSIVE
// adds, and that the plaintext chains leave out exactly the filters marked as checking the mesh identity.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XDS_TYPE_URL } from '@meshfed/shared';
import { downstreamMeshTls, encodeEnvoy, inboundChains, listenerTail, meshIdentityFilter, tcpProxyFilter } from './envoy-parts.js';

const tls = downstreamMeshTls('default', { prefix: 'spiffe://default/' });
const named = (name: string) => ({ name });

describe('inbound filter chains', () => {
  it('mTLS off and STRICT: one chain, no match, no TLS inspector (as before modes existed)', () => {
    const filters = [named('a'), tcpProxyFilter('x', 'localhost:80')];
    assert.deepEqual(inboundChains(filters, undefined, false), { chains: [{ filters }], inspectTls: false });
    assert.deepEqual(inboundChains(filters, undefined, true), { chains: [{ filters }], inspectTls: false }, 'no mTLS: nothing to accept beside it');
    assert.deepEqual(inboundChains(filters, tls, false), { chains: [{ filters, transportSocket: tls }], inspectTls: false });
    assert.equal(listenerTail('INBOUND', inboundChains(filters, tls, false).chains)['listener_filters'], undefined);
  });

  it('PERMISSIVE: plaintext and non-mesh TLS without the identity filters, wherever plugins put them; mesh mTLS by ALPN with all', () => {
    const rbac = meshIdentityFilter(named('envoy.filters.network.rbac'));
    const lookalike = named('envoy.filters.network.rbac'); // same name, not marked: kept
    const terminal = tcpProxyFilter('x', 'localhost:80');
    const filters = [named('limit'), rbac, lookalike, terminal];
    const { chains, inspectTls } = inboundChains(filters, tls, true);
    assert.equal(inspectTls, true);
    assert.deepEqual(chains, [
      { transportProtocol: 'raw_buffer', filters: [filters[0], lookalike, terminal] },
      { transportProtocol: 'tls', filters: [filters[0], lookalike, terminal] },
      { transportProtocol: 'tls', applicationProtocols: ['kuma'], filters, transportSocket: tls },
    ]);
    const tail = listenerTail('INBOUND', chains, inspectTls);
    assert.deepEqual((tail['listener_filters'] as { name: string }[]).map((f) => f.name), ['envoy.filters.listener.tls_inspector']);
    assert.deepEqual((tail['filter_chains'] as { filter_chain_match: unknown }[]).map((c) => c.filter_chain_match), [
      { transport_protocol: 'raw_buffer' }, { transport_protocol: 'tls' }, { transport_protocol: 'tls', application_protocols: ['kuma'] },
    ]);
  });

  it('an SNI chain keeps its match (server names, TLS)', () => {
    const tail = listenerTail('INBOUND', [{ serverNames: ['backend{mesh=default}'], filters: [tcpProxyFilter('x', 'c')] }]);
    assert.deepEqual((tail['filter_chains'] as { filter_chain_match: unknown }[])[0]!.filter_chain_match, { server_names: ['backend{mesh=default}'], transport_protocol: 'tls' });
    // And a PERMISSIVE tail encodes (the inspector and the matches are fields Envoy's protos know).
    const real = [meshIdentityFilter(tcpProxyFilter('y', 'c'))];
    const { chains, inspectTls } = inboundChains([...real, tcpProxyFilter('x', 'c')], tls, true);
    assert.ok(encodeEnvoy(XDS_TYPE_URL.listener, listenerTail('INBOUND', chains, inspectTls)).value.length > 0);
  });
});
