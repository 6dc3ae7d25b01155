import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildApiServer, createLogger, ENVOY_TYPE, InProcessEventBus, MemoryStore, Telemetry, toEnvoyJson, toStruct, typed, unpack } from '@meshfed/shared';
import { proxyIdentityOf } from './auth.js';
import { ADS_CLUSTER_NAME, BootstrapRequest, type BootstrapInput, generateBootstrap, registerXdsCaRoute, XDS_CA_PATH } from './bootstrap.js';

const dataplane: BootstrapInput = {
  proxyType: 'dataplane', nodeId: 'default.web-1', cluster: 'web', adminPort: 9901, xdsHost: '10.0.0.5', xdsPort: 5678, token: 'tok.en.x',
};

const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIB (the zone\'s xDS CA)\n-----END CERTIFICATE-----\n';
const withTls: BootstrapInput = { ...dataplane, xdsCaPem: CA_PEM };

describe('generateBootstrap', () => {
  test('encodes as an Envoy v3 Bootstrap with the real protos and decodes back unchanged', () => {
    const inputs = [dataplane, { ...dataplane, xdsHost: 'zone-cp.internal', token: undefined } as BootstrapInput, withTls, { ...withTls, xdsHost: 'zone-cp.internal' }];
    for (const input of inputs) {
      const obj = generateBootstrap(input);
      assert.deepEqual(unpack(typed(ENVOY_TYPE.bootstrap, obj)), obj);
    }
  });

  test('says who the proxy is, where the admin listens, and dials ADS over delta gRPC with the token', () => {
    const json = toEnvoyJson(typed(ENVOY_TYPE.bootstrap, generateBootstrap(dataplane))) as Record<string, any>;
    assert.deepEqual(json.node, { id: 'default.web-1', cluster: 'web', metadata: { proxyType: 'dataplane' } });
    assert.deepEqual(json.admin.address.socket_address, { address: '127.0.0.1', port_value: 9901 });
    const ads = json.dynamic_resources.ads_config;
    assert.equal(ads.api_type, 'DELTA_GRPC');
    assert.equal(ads.transport_api_version, 'V3');
    assert.deepEqual(ads.grpc_services, [{ envoy_grpc: { cluster_name: ADS_CLUSTER_NAME }, initial_metadata: [{ key: 'authorization', value: 'Bearer tok.en.x' }] }]);
    assert.deepEqual(json.dynamic_resources.cds_config, { ads: {}, resource_api_version: 'V3' });
    assert.deepEqual(json.dynamic_resources.lds_config, { ads: {}, resource_api_version: 'V3' });
    const [cluster] = json.static_resources.clusters;
    assert.equal(cluster.name, ADS_CLUSTER_NAME);
    assert.equal(cluster.type, 'STATIC');
    assert.equal(cluster.connect_timeout, '1s');
    assert.deepEqual(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: '10.0.0.5', port_value: 5678 });
    // HTTP/2 to the ADS server, whichever way the loaded Envoy API allows.
    assert.ok(cluster.http2_protocol_options !== undefined || cluster.typed_extension_protocol_options !== undefined);
  });

  test('resolves a host name with DNS and sends no authorization without a token', () => {
    const json = toEnvoyJson(typed(ENVOY_TYPE.bootstrap, generateBootstrap({ ...dataplane, xdsHost: 'localhost', token: undefined } as BootstrapInput))) as Record<string, any>;
    assert.equal(json.static_resources.clusters[0].type, 'STRICT_DNS');
    assert.equal(json.static_resources.clusters[0].dns_lookup_family, 'V4_PREFERRED');
    assert.equal(json.dynamic_resources.ads_config.grpc_services[0].initial_metadata, undefined);
  });

  test('dials ADS over TLS trusting the given CA and checking the dialled host: SNI and a DNS SAN for a name', () => {
    const json = toEnvoyJson(typed(ENVOY_TYPE.bootstrap, generateBootstrap({ ...withTls, xdsHost: 'zone-cp.internal' }))) as Record<string, any>;
    const socket = json.static_resources.clusters[0].transport_socket;
    assert.equal(socket.name, 'envoy.transport_sockets.tls');
    assert.deepEqual(socket.typed_config, {
      '@type': `type.googleapis.com/${ENVOY_TYPE.upstreamTlsContext}`,
      sni: 'zone-cp.internal',
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
        alpn_protocols: ['h2'],
        validation_context: {
          trusted_ca: { inline_string: CA_PEM },
          match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'zone-cp.internal' } }],
        },
      },
    });
  });

  test('for an IP address: an IP SAN and no SNI (RFC 6066 allows names only); plaintext without a CA', () => {
    const cluster = (b: BootstrapInput) => (toEnvoyJson(typed(ENVOY_TYPE.bootstrap, generateBootstrap(b))) as Record<string, any>).static_resources.clusters[0];
    const tls = cluster(withTls).transport_socket.typed_config;
    assert.equal(tls.sni, undefined);
    assert.deepEqual(tls.common_tls_context.validation_context.match_typed_subject_alt_names, [{ san_type: 'IP_ADDRESS', matcher: { exact: '10.0.0.5' } }]);
    assert.equal(cluster(dataplane).transport_socket, undefined);
  });

  test('the node it writes is one the ADS server admits, for every proxy type', () => {
    for (const [proxyType, nodeId] of [['dataplane', 'default.web-1'], ['ingress', 'ingress-1'], ['egress', 'egress-1']] as const) {
      const node = generateBootstrap({ ...dataplane, proxyType, nodeId })['node'] as { id: string; metadata: ReturnType<typeof toStruct> };
      assert.deepEqual(proxyIdentityOf(node), { nodeId, proxyType });
    }
  });
});

describe('BootstrapRequest', () => {
  const issues = (body: unknown) => {
    const r = BootstrapRequest.safeParse(body);
    return r.success ? [] : r.error.issues.map((i) => [i.path.join('.'), i.message]);
  };

  test('takes Kuma’s fields and defaults to a dataplane', () => {
    assert.deepEqual(BootstrapRequest.parse({ mesh: 'default', name: 'web-1' }), { mesh: 'default', name: 'web-1', proxyType: 'dataplane' });
    assert.deepEqual(BootstrapRequest.parse({ name: 'ingress-1', proxyType: 'ingress', adminPort: 9902, dataplaneToken: 't' }), {
      name: 'ingress-1', proxyType: 'ingress', adminPort: 9902, dataplaneToken: 't',
    });
  });

  test('names the field of each mistake', () => {
    assert.deepEqual(issues({ name: 'web-1' }), [['mesh', 'is required for a dataplane']]);
    assert.deepEqual(issues({ name: 'egress-1', proxyType: 'egress', mesh: 'default' }), [['mesh', 'a zone egress is not in a mesh: leave mesh out']]);
    assert.deepEqual(issues({ mesh: 'default' }), [['name', 'is required']]);
    assert.deepEqual(issues({ mesh: 'default', name: 'web', proxyType: 'sidecar' }), [['proxyType', 'must be dataplane, ingress or egress']]);
    assert.deepEqual(issues({ mesh: 'default', name: 'web', adminPort: 70000 }), [['adminPort', 'must be a port in 1-65535']]);
    assert.equal(issues({ mesh: 'default', name: 'web', version: '2.0' })[0]?.[0], '');
    assert.match(String(issues([])[0]?.[1]), /JSON object/);
  });
});

describe('GET /xds-ca.crt', () => {
  const quiet = createLogger({ component: 'test', level: 'fatal' });
  const app = (caPem: string | undefined) => buildApiServer({
    mode: 'standalone', zone: 'zone-1', store: new MemoryStore(new InProcessEventBus()), telemetry: new Telemetry({ service: 'test' }), log: quiet,
    extraRoutes: (a) => registerXdsCaRoute(a, caPem),
  });

  test('serves the PEM bootstraps embed; says why there is none when xDS is plaintext', async () => {
    const tls = await app(CA_PEM).inject({ method: 'GET', url: XDS_CA_PATH });
    assert.equal(tls.statusCode, 200);
    assert.equal(tls.headers['content-type'], 'application/x-pem-file');
    assert.equal(tls.body, CA_PEM);
    const plain = await app(undefined).inject({ method: 'GET', url: XDS_CA_PATH });
    assert.equal(plain.statusCode, 404);
    assert.match(plain.body, /without TLS \(--xds-insecure\)/);
  });
});
