import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildZoneIndex } from '../zone-index.js';
import type { GatewayListenerDraft } from '../../plugins/index.js';
import type { GatewayBackends } from './backends.js';
import { encodeGatewayListener, gatewayListeners } from './listeners.js';

/** A gateway instance serving one MeshGateway with `listeners`, and no routes (so no backend is asked for). */
function build(listeners: unknown[]) {
  const index = buildZoneIndex({
    zone: 'zone-1', meshes: [{ name: 'default', labels: {}, spec: {} }], zoneIngresses: [], zoneEgresses: [], externalServices: [],
    dataplanes: [{ name: 'gw', mesh: 'default', labels: {}, spec: { networking: { address: '10.0.0.1', gateway: { type: 'BUILTIN', tags: { 'kuma.io/service': 'edge' } } } } }],
    meshGateways: [{ name: 'edge', mesh: 'default', labels: {}, spec: { selectors: [{ match: { 'kuma.io/service': 'edge' } }], conf: { listeners } } }],
  });
  assert.deepEqual(index.problems, []);
  const instance = [...index.builtinGateways.values()][0]!;
  const problems: string[] = [];
  // Without routes no listener asks for a backend.
  const drafts = gatewayListeners(instance, instance.gateway!, index.meshes.get('default')!, {} as GatewayBackends, problems);
  return { drafts, problems };
}

test('a crossMesh HTTP listener is built as HTTP, marked crossMesh', () => {
  const { drafts, problems } = build([{ port: 8080, protocol: 'HTTP', crossMesh: true }, { port: 8081, protocol: 'HTTP' }]);
  assert.deepEqual(problems, []);
  assert.deepEqual(drafts.map((d) => [d.port, d.protocol, d.crossMesh]), [[8080, 'HTTP', true], [8081, 'HTTP', undefined]]);
});

test('connectionLimit: a connection_limit filter first on the port; different limits on one port keep the lowest, said', () => {
  const { drafts, problems } = build([
    { port: 8080, protocol: 'HTTP', hostname: 'a.example.com', resources: { connectionLimit: 300 } },
    { port: 8080, protocol: 'HTTP', hostname: 'b.example.com', resources: { connectionLimit: 20 } },
    { port: 8080, protocol: 'HTTP' },
  ]);
  assert.deepEqual(problems, ['MeshGateway edge port 8080: its listeners set different resources.connectionLimit (300, 20); the lowest, 20, is enforced']);
  assert.deepEqual(drafts[0]!.filters, [{
    name: 'envoy.filters.network.connection_limit',
    typed_config: { '@type': 'envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit', stat_prefix: 'edge_HTTP_8080', max_connections: { value: 20 } },
  }]);
});

test('a TLS port takes TLS only: a chain without hostname still matches transport_protocol tls; plain HTTP has no match', () => {
  const draft = (protocol: GatewayListenerDraft['protocol'], chains: GatewayListenerDraft['chains']): GatewayListenerDraft => ({
    rulesKey: 'dataplane:1', name: `edge:${protocol}:1`, port: 1, protocol, listener: { name: `edge:${protocol}:1` }, filters: [], chains,
    tcpProxy: { '@type': 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 's', cluster: 'c' },
  });
  const matches = (l: Record<string, unknown>) => (l['filter_chains'] as Record<string, unknown>[]).map((c) => c['filter_chain_match']);
  const tls = encodeGatewayListener(draft('TLS', [{ serverNames: ['a.example.com'] }, {}]));
  assert.deepEqual(matches(tls), [{ server_names: ['a.example.com'], transport_protocol: 'tls' }, { transport_protocol: 'tls' }]);
  assert.deepEqual((tls['listener_filters'] as { name: string }[]).map((f) => f.name), ['envoy.filters.listener.tls_inspector']);
  const tcp = encodeGatewayListener(draft('TCP', [{}]));
  assert.deepEqual(matches(tcp), [undefined]);
  assert.equal(tcp['listener_filters'], undefined);
});
