import assert from 'node:assert/strict';
import { test } from 'node:test';
import type protobuf from 'protobufjs';
import type { Any } from '../kds/proto.js';
import { ENVOY_TYPE, envoyType } from './envoy-proto.js';
import { EnvoyResourceError } from './errors.js';
import {
  ENVOY_EXTENSION_NAME, identityCertSecretName, localClusterName, meshCaSecretName,
  outboundClusterName, outboundListenerName, outboundRouteName, serviceSni, spiffeId, zoneIngressListenerName,
} from './names.js';
import {
  configDump, type EnvoyObject, fromStruct, type JsonValue, pack, toConfigDumpJson, toEnvoyJson, toStruct, typed,
  unpack, XDS_KINDS, XDS_TYPE_URL, xdsKindOf,
} from './resources.js';

const ads = { ads: {}, resource_api_version: 'V3' };
const CERT = '-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n';

const tcpProxy = { stat_prefix: 'localhost_8080', cluster: localClusterName(8080), idle_timeout: { seconds: 3600 } };

function downstreamTls(mesh: string) {
  return typed(ENVOY_TYPE.downstreamTlsContext, {
    common_tls_context: {
      tls_certificate_sds_secret_configs: [{ name: identityCertSecretName(mesh), sds_config: ads }],
      validation_context_sds_secret_config: { name: meshCaSecretName(mesh), sds_config: ads },
      alpn_protocols: ['kuma'],
    },
    require_client_certificate: { value: true },
  });
}

/** An ingress-style inbound: TLS inspector, an SNI filter chain, tcp_proxy, mTLS server side. */
const listener: EnvoyObject = {
  name: zoneIngressListenerName('192.168.0.10', 10001),
  address: { socket_address: { address: '192.168.0.10', port_value: 10001 } },
  listener_filters: [{ name: ENVOY_EXTENSION_NAME.tlsInspector, typed_config: typed(ENVOY_TYPE.tlsInspector, {}) }],
  filter_chains: [{
    filter_chain_match: { server_names: [serviceSni('backend', 'default', { version: 'v1' })], transport_protocol: 'tls' },
    filters: [{ name: ENVOY_EXTENSION_NAME.tcpProxy, typed_config: typed(ENVOY_TYPE.tcpProxy, tcpProxy) }],
    transport_socket: { name: ENVOY_EXTENSION_NAME.tlsTransportSocket, typed_config: downstreamTls('default') },
  }],
  traffic_direction: 'INBOUND',
};

/** An outbound cluster: EDS over ADS, client-side mTLS with the service's SNI. */
const cluster: EnvoyObject = {
  name: outboundClusterName('backend'),
  type: 'EDS',
  eds_cluster_config: { eds_config: ads },
  connect_timeout: { seconds: 5, nanos: 250_000_000 },
  lb_policy: 'ROUND_ROBIN',
  common_lb_config: { locality_weighted_lb_config: {} },
  transport_socket: {
    name: ENVOY_EXTENSION_NAME.tlsTransportSocket,
    typed_config: typed(ENVOY_TYPE.upstreamTlsContext, {
      sni: serviceSni('backend', 'default'),
      common_tls_context: {
        tls_certificate_sds_secret_configs: [{ name: identityCertSecretName('default'), sds_config: ads }],
        combined_validation_context: {
          default_validation_context: {
            match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: spiffeId('default', 'backend') } }],
          },
          validation_context_sds_secret_config: { name: meshCaSecretName('default'), sds_config: ads },
        },
        alpn_protocols: ['kuma'],
      },
    }),
  },
};

/** Local instances first, then another zone's ingress weighted by its instance count. */
const loadAssignment: EnvoyObject = {
  cluster_name: 'backend',
  endpoints: [
    {
      locality: { zone: 'zone-1' },
      lb_endpoints: [{
        endpoint: { address: { socket_address: { address: '10.0.0.5', port_value: 8080 } } },
        load_balancing_weight: { value: 1 },
      }],
      load_balancing_weight: { value: 1 },
      priority: 0,
    },
    {
      locality: { zone: 'zone-2' },
      lb_endpoints: [{
        endpoint: { address: { socket_address: { address: '192.168.1.10', port_value: 10001 } } },
        load_balancing_weight: { value: 2 },
        metadata: { filter_metadata: { 'envoy.transport_socket_match': toStruct({ 'kuma.io/zone': 'zone-2', instances: 2 }) } },
      }],
      load_balancing_weight: { value: 2 },
      priority: 1,
    },
  ],
  policy: { overprovisioning_factor: { value: 140 } },
};

const routeConfiguration: EnvoyObject = {
  name: outboundRouteName('backend'),
  virtual_hosts: [{
    name: 'backend',
    domains: ['*'],
    routes: [{
      match: { prefix: '/' },
      route: { cluster: 'backend', timeout: { seconds: 15 } },
    }],
  }],
  validate_clusters: { value: false },
};

const secret: EnvoyObject = {
  name: identityCertSecretName('default'),
  tls_certificate: {
    certificate_chain: { inline_bytes: Buffer.from(CERT) },
    private_key: { inline_bytes: Buffer.from(KEY) },
  },
};

const caSecret: EnvoyObject = {
  name: meshCaSecretName('default'),
  validation_context: { trusted_ca: { inline_bytes: Buffer.from(CERT) } },
};

const httpListener: EnvoyObject = {
  name: outboundListenerName('127.0.0.1', 10001),
  address: { socket_address: { address: '127.0.0.1', port_value: 10001 } },
  filter_chains: [{
    filters: [{
      name: ENVOY_EXTENSION_NAME.httpConnectionManager,
      typed_config: typed(ENVOY_TYPE.httpConnectionManager, {
        stat_prefix: 'backend',
        rds: { route_config_name: outboundRouteName('backend'), config_source: ads },
        http_filters: [{ name: ENVOY_EXTENSION_NAME.router, typed_config: typed(ENVOY_TYPE.router, {}) }],
      }),
    }],
  }],
  traffic_direction: 'OUTBOUND',
};

const CASES: [string, string, EnvoyObject][] = [
  ['Listener (TLS inspector, SNI chain, tcp_proxy, DownstreamTlsContext)', XDS_TYPE_URL.listener, listener],
  ['Listener (HTTP connection manager with RDS and router)', XDS_TYPE_URL.listener, httpListener],
  ['Cluster (EDS over ADS, UpstreamTlsContext with SNI)', XDS_TYPE_URL.cluster, cluster],
  ['ClusterLoadAssignment (localities, weights, metadata)', XDS_TYPE_URL.endpoint, loadAssignment],
  ['RouteConfiguration', XDS_TYPE_URL.route, routeConfiguration],
  ['Secret (tls_certificate)', XDS_TYPE_URL.secret, secret],
  ['Secret (validation_context)', XDS_TYPE_URL.secret, caSecret],
];

for (const [what, url, object] of CASES) {
  test(`${what} encodes and decodes back unchanged`, () => {
    const any = pack(url, object);
    assert.equal(any.type_url, url);
    assert.deepStrictEqual(unpack(any), object);
    // and once more through bytes only, as it crosses the wire
    assert.deepStrictEqual(unpack({ type_url: url, value: Uint8Array.from(any.value) }), object);
  });
}

test('nested typed configs decode back to the plain objects they were built from', () => {
  const decoded = unpack(pack(XDS_TYPE_URL.listener, listener)) as {
    filter_chains: { filters: { typed_config: Any }[]; transport_socket: { typed_config: Any } }[];
  };
  const chain = decoded.filter_chains[0];
  assert.ok(chain);
  const filter = chain.filters[0];
  assert.ok(filter);
  assert.deepStrictEqual(unpack(filter.typed_config), tcpProxy);
  const tls = unpack(chain.transport_socket.typed_config) as { require_client_certificate: unknown };
  assert.deepStrictEqual(tls.require_client_certificate, { value: true });
});

test('enums given by number come back by name (the normal form)', () => {
  const decoded = unpack(pack(XDS_TYPE_URL.cluster, { name: 'c', lb_policy: 1 }));
  assert.deepStrictEqual(decoded, { name: 'c', lb_policy: 'LEAST_REQUEST' });
});

test('encoding is deterministic: map key order does not change the bytes', () => {
  const a = typed(ENVOY_TYPE.cluster, { name: 'c', metadata: { filter_metadata: { b: toStruct({ x: 1, y: 2 }), a: toStruct({}) } } });
  const b = typed(ENVOY_TYPE.cluster, { metadata: { filter_metadata: { a: toStruct({}), b: toStruct({ y: 2, x: 1 }) } }, name: 'c' });
  assert.deepStrictEqual(a, b);
});

function packError(fn: () => unknown): EnvoyResourceError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof EnvoyResourceError, String(err));
    return err;
  }
  assert.fail('expected an EnvoyResourceError');
}

test('packing a mistake fails with a message naming the type and the field', () => {
  const unknown = packError(() => pack(XDS_TYPE_URL.cluster, { name: 'c', conect_timeout: { seconds: 1 } }));
  assert.equal(unknown.typeName, ENVOY_TYPE.cluster);
  assert.equal(unknown.field, 'conect_timeout');
  assert.match(unknown.message, /envoy\.config\.cluster\.v3\.Cluster field conect_timeout: unknown field/);

  const camel = packError(() => pack(XDS_TYPE_URL.cluster, { name: 'c', connectTimeout: { seconds: 1 } }));
  assert.match(camel.message, /did you mean "connect_timeout"/);

  const deep = packError(() => pack(XDS_TYPE_URL.endpoint, {
    cluster_name: 'b',
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'x', port_value: '80' } } } }] }],
  }));
  assert.equal(deep.field, 'endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value');
  assert.match(deep.message, /expected a uint32 integer, got string "80"/);

  const range = packError(() => pack(XDS_TYPE_URL.endpoint, { cluster_name: 'b', endpoints: [{ priority: -1 }] }));
  assert.equal(range.field, 'endpoints[0].priority');

  const enumName = packError(() => pack(XDS_TYPE_URL.cluster, { name: 'c', type: 'EDSS' }));
  assert.equal(enumName.field, 'type');
  assert.match(enumName.message, /unknown envoy\.config\.cluster\.v3\.Cluster\.DiscoveryType value "EDSS" \(one of STATIC, .*EDS/);

  const notArray = packError(() => pack(XDS_TYPE_URL.route, { name: 'r', virtual_hosts: { name: 'v' } }));
  assert.equal(notArray.field, 'virtual_hosts');

  const oneof = packError(() => pack(XDS_TYPE_URL.cluster, { name: 'c', type: 'EDS', cluster_type: { name: 'x' } }));
  assert.match(oneof.message, /only one of cluster_discovery_type may be set/);

  const nested = packError(() => typed(ENVOY_TYPE.tcpProxy, { stat_prefix: 's', clustr: 'b' }));
  assert.equal(nested.typeName, ENVOY_TYPE.tcpProxy);
  assert.equal(nested.field, 'clustr');

  const rawAny = packError(() => pack(XDS_TYPE_URL.listener, {
    name: 'l', filter_chains: [{ filters: [{ name: 'f', typed_config: { stat_prefix: 's' } }] }],
  }));
  assert.equal(rawAny.field, 'filter_chains[0].filters[0].typed_config.stat_prefix');
  assert.match(rawAny.message, /typed\(\)/);

  const badUrl = packError(() => pack('type.googleapis.com/envoy.config.listener.v3.Nope', {}));
  assert.match(badUrl.message, /unknown Envoy type/);
});

test('type URLs: one per xDS kind, mapped back by xdsKindOf', () => {
  assert.equal(XDS_TYPE_URL.listener, 'type.googleapis.com/envoy.config.listener.v3.Listener');
  assert.equal(XDS_TYPE_URL.endpoint, 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment');
  assert.equal(XDS_TYPE_URL.secret, 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret');
  for (const kind of XDS_KINDS) assert.equal(xdsKindOf(XDS_TYPE_URL[kind]), kind);
  assert.equal(xdsKindOf('type.googleapis.com/envoy.config.core.v3.Node'), undefined);
});

/** How many Anys a message holds, nested ones included, found by walking the protos themselves. */
function countAnys(any: Any): number {
  const type = envoyType(any.type_url.slice(any.type_url.lastIndexOf('/') + 1));
  return 1 + countIn(type, type.decode(any.value));
}

function countIn(type: protobuf.Type, message: object): number {
  let n = 0;
  const m = message as Record<string, unknown>;
  for (const field of type.fieldsArray) {
    if (!Object.prototype.hasOwnProperty.call(m, field.name)) continue;
    field.resolve();
    const rt = field.resolvedType;
    if (!rt || !('fieldsArray' in rt)) continue;
    const v = m[field.name];
    const values = field.map ? Object.values(v as object) : field.repeated ? (v as object[]) : [v as object];
    for (const x of values) n += rt.fullName === '.google.protobuf.Any' ? countAnys(x as Any) : countIn(rt as protobuf.Type, x);
  }
  return n;
}

function collect(json: JsonValue, key: string, out: JsonValue[] = []): JsonValue[] {
  if (Array.isArray(json)) for (const x of json) collect(x, key, out);
  else if (json !== null && typeof json === 'object') {
    if (key in json) out.push(json[key] ?? null);
    for (const v of Object.values(json)) collect(v, key, out);
  }
  return out;
}

const dump = configDump({
  cluster: { version: 'c1', resources: [{ name: 'backend', resource: pack(XDS_TYPE_URL.cluster, cluster) }] },
  endpoint: { version: 'e1', resources: [{ name: 'backend', resource: pack(XDS_TYPE_URL.endpoint, loadAssignment) }] },
  listener: {
    version: 'l1',
    resources: [
      { name: listener.name as string, resource: pack(XDS_TYPE_URL.listener, listener) },
      { name: httpListener.name as string, resource: pack(XDS_TYPE_URL.listener, httpListener), version: 'l0' },
    ],
  },
  route: { version: 'r1', resources: [{ name: 'outbound:backend', resource: pack(XDS_TYPE_URL.route, routeConfiguration) }] },
  secret: {
    version: 's1',
    resources: [
      { name: identityCertSecretName('default'), resource: pack(XDS_TYPE_URL.secret, secret) },
      { name: meshCaSecretName('default'), resource: pack(XDS_TYPE_URL.secret, caSecret) },
    ],
  },
});

test('the config dump JSON has @type at every Any, nested ones included', () => {
  const json = toConfigDumpJson(dump);
  const types = collect(json, '@type');
  assert.equal(types.length, countAnys(dump));
  assert.equal(types.length, 19, 'the dump, 5 sections, 7 resources and 6 typed configs');
  assert.deepEqual(collect(json, 'type_url'), [], 'no Any left packed');
  assert.equal(json['@type'], 'type.googleapis.com/envoy.admin.v3.ConfigDump');

  // Envoy's /config_dump answers the ConfigDump itself: sections in Envoy's order
  const body = toEnvoyJson(dump);
  assert.equal(body['@type'], undefined);
  const configs = body.configs as { '@type': string }[];
  assert.deepEqual(configs.map((c) => c['@type'].replace(/.*\./, '')), [
    'ClustersConfigDump', 'EndpointsConfigDump', 'ListenersConfigDump', 'RoutesConfigDump', 'SecretsConfigDump',
  ]);
});

test('config dump JSON is proto3 JSON as Envoy prints it', () => {
  const json = toConfigDumpJson(pack(XDS_TYPE_URL.cluster, cluster));
  assert.equal(json.connect_timeout, '5.250s', 'Duration as a string');
  assert.equal(json.type, 'EDS', 'enums by name');
  assert.equal(json.lb_policy, undefined, 'proto3 defaults omitted');
  assert.deepEqual(json.eds_cluster_config, { eds_config: { ads: {}, resource_api_version: 'V3' } });
  const tls = (json.transport_socket as { typed_config: Record<string, JsonValue> }).typed_config;
  assert.equal(tls['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
  assert.equal(tls.sni, 'backend{mesh=default}');

  const cla = toConfigDumpJson(pack(XDS_TYPE_URL.endpoint, loadAssignment));
  const zone2 = (cla.endpoints as { locality: JsonValue; load_balancing_weight: JsonValue; lb_endpoints: { metadata: JsonValue }[] }[])[1];
  assert.ok(zone2);
  assert.deepEqual(zone2.locality, { zone: 'zone-2' });
  assert.equal(zone2.load_balancing_weight, 2, 'wrappers unwrapped');
  assert.deepEqual(zone2.lb_endpoints[0]?.metadata, {
    filter_metadata: { 'envoy.transport_socket_match': { 'kuma.io/zone': 'zone-2', instances: 2 } },
  }, 'Struct as plain JSON');

  const wrapped = toConfigDumpJson(typed(ENVOY_TYPE.endpoint, { cluster_name: 'x', policy: { overprovisioning_factor: { value: 0 } } }));
  assert.deepEqual(wrapped.policy, { overprovisioning_factor: 0 }, 'a set wrapper prints even at its default');
});

test('config dump JSON redacts what Envoy marks sensitive', () => {
  const json = toConfigDumpJson(pack(XDS_TYPE_URL.secret, secret));
  const cert = json.tls_certificate as Record<string, Record<string, string>>;
  assert.equal(Buffer.from(cert.certificate_chain?.inline_bytes ?? '', 'base64').toString(), CERT);
  assert.equal(Buffer.from(cert.private_key?.inline_bytes ?? '', 'base64').toString(), '[redacted]');
  assert.ok(!JSON.stringify(toConfigDumpJson(dump)).includes(Buffer.from(KEY).toString('base64')));
});

test('config dump JSON never throws on an Any it cannot read', () => {
  const unknown = { type_url: 'type.googleapis.com/example.Unknown', value: Buffer.from([1, 2, 3]) };
  assert.deepEqual(toConfigDumpJson(unknown), { '@type': unknown.type_url, value: 'AQID' });
  const garbage = { type_url: XDS_TYPE_URL.cluster, value: Buffer.from([0xff, 0xff, 0xff]) };
  assert.deepEqual(toConfigDumpJson(garbage), { '@type': garbage.type_url, value: '////' });
});

test('Struct converts to and from JSON (node metadata, endpoint metadata)', () => {
  const json = { proxyType: 'dataplane', version: { envoy: '1.30' }, ports: [1, 2], on: true, none: null };
  const s = toStruct(json);
  assert.deepEqual(fromStruct(s), json);
  const decoded = unpack(typed(ENVOY_TYPE.cluster, { name: 'c', metadata: { filter_metadata: { m: s } } })) as {
    metadata: { filter_metadata: { m: Parameters<typeof fromStruct>[0] } };
  };
  assert.deepEqual(fromStruct(decoded.metadata.filter_metadata.m), json);
  assert.deepEqual(fromStruct(undefined), {});
});

test('a Bootstrap packs, and prints without the outer @type (a file Envoy reads)', () => {
  const bootstrap = typed(ENVOY_TYPE.bootstrap, {
    node: { id: 'default.web-1', cluster: 'web', metadata: toStruct({ proxyType: 'dataplane' }) },
    dynamic_resources: { ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'ads_cluster' } }] }, cds_config: ads, lds_config: ads },
    static_resources: {
      clusters: [{
        name: 'ads_cluster',
        type: 'STRICT_DNS',
        load_assignment: { cluster_name: 'ads_cluster', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'zone-cp', port_value: 5678 } } } }] }] },
      }],
    },
  });
  const json = toEnvoyJson(bootstrap);
  assert.equal(json['@type'], undefined);
  assert.deepEqual((json.node as Record<string, JsonValue>).metadata, { proxyType: 'dataplane' });
});
