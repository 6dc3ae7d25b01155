import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

/**
 * Every Envoy v3 message meshfed builds, reads or shows, by short key. The only list of Envoy type
 * names: type URLs, `typed(...)` and the config dump all take their names from here.
 */
export const ENVOY_TYPE = {
  // xDS resources
  listener: 'envoy.config.listener.v3.Listener',
  cluster: 'envoy.config.cluster.v3.Cluster',
  endpoint: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  route: 'envoy.config.route.v3.RouteConfiguration',
  secret: 'envoy.extensions.transport_sockets.tls.v3.Secret',
  // typed configs nested in those resources
  upstreamTlsContext: 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  downstreamTlsContext: 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  tcpProxy: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  httpConnectionManager: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  router: 'envoy.extensions.filters.http.router.v3.Router',
  tlsInspector: 'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  sniCluster: 'envoy.extensions.filters.network.sni_cluster.v3.SniCluster',
  networkRbac: 'envoy.extensions.filters.network.rbac.v3.RBAC',
  networkLocalRateLimit: 'envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit',
  connectionLimit: 'envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit',
  httpRbac: 'envoy.extensions.filters.http.rbac.v3.RBAC',
  httpLocalRateLimit: 'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
  httpFault: 'envoy.extensions.filters.http.fault.v3.HTTPFault',
  extensionWithMatcher: 'envoy.extensions.common.matching.v3.ExtensionWithMatcher',
  uriSanInput: 'envoy.extensions.matching.common_inputs.ssl.v3.UriSanInput',
  skipFilter: 'envoy.extensions.filters.common.matcher.action.v3.SkipFilter',
  fileAccessLog: 'envoy.extensions.access_loggers.file.v3.FileAccessLog',
  healthCheckFileSink: 'envoy.extensions.health_check.event_sinks.file.v3.HealthCheckEventFileSink',
  previousHostsPredicate: 'envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate',
  omitHostMetadata: 'envoy.extensions.retry.host.omit_host_metadata.v3.OmitHostMetadataConfig',
  previousPriorities: 'envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig',
  // bootstrap and the admin config dump
  bootstrap: 'envoy.config.bootstrap.v3.Bootstrap',
  httpProtocolOptions: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  configDump: 'envoy.admin.v3.ConfigDump',
  clustersConfigDump: 'envoy.admin.v3.ClustersConfigDump',
  endpointsConfigDump: 'envoy.admin.v3.EndpointsConfigDump',
  listenersConfigDump: 'envoy.admin.v3.ListenersConfigDump',
  routesConfigDump: 'envoy.admin.v3.RoutesConfigDump',
  secretsConfigDump: 'envoy.admin.v3.SecretsConfigDump',
  // the discovery protocol
  discoveryRequest: 'envoy.service.discovery.v3.DiscoveryRequest',
  discoveryResponse: 'envoy.service.discovery.v3.DiscoveryResponse',
  deltaDiscoveryRequest: 'envoy.service.discovery.v3.DeltaDiscoveryRequest',
  deltaDiscoveryResponse: 'envoy.service.discovery.v3.DeltaDiscoveryResponse',
} as const;

export type EnvoyTypeKey = keyof typeof ENVOY_TYPE;
export type EnvoyTypeName = (typeof ENVOY_TYPE)[EnvoyTypeKey];

/** The gRPC service of ADS, as declared in envoy/service/discovery/v3/ads.proto. */
export const ADS_SERVICE_NAME = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

// The .proto files that declare the types above (their imports follow). An optional file may be
// absent from a given @grpc/grpc-js-xds release; its types are then missing and say so on lookup.
const PROTO_FILES: readonly { file: string; optional?: true }[] = [
  { file: 'envoy/service/discovery/v3/discovery.proto' },
  { file: 'envoy/service/discovery/v3/ads.proto' },
  { file: 'envoy/config/listener/v3/listener.proto' },
  { file: 'envoy/config/cluster/v3/cluster.proto' },
  { file: 'envoy/config/endpoint/v3/endpoint.proto' },
  { file: 'envoy/config/route/v3/route.proto' },
  { file: 'envoy/extensions/transport_sockets/tls/v3/secret.proto' },
  { file: 'envoy/extensions/transport_sockets/tls/v3/tls.proto' },
  { file: 'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto' },
  { file: 'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto' },
  { file: 'envoy/extensions/filters/http/router/v3/router.proto' },
  { file: 'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto' },
  { file: 'envoy/extensions/filters/network/sni_cluster/v3/sni_cluster.proto', optional: true },
  { file: 'envoy/extensions/filters/network/rbac/v3/rbac.proto' },
  { file: 'envoy/extensions/filters/network/local_ratelimit/v3/local_rate_limit.proto' },
  { file: 'envoy/extensions/filters/network/connection_limit/v3/connection_limit.proto' },
  { file: 'envoy/extensions/filters/http/rbac/v3/rbac.proto' },
  { file: 'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto' },
  { file: 'envoy/extensions/filters/http/fault/v3/fault.proto' },
  { file: 'envoy/extensions/common/matching/v3/extension_matcher.proto' },
  { file: 'envoy/extensions/matching/common_inputs/ssl/v3/ssl_inputs.proto' },
  { file: 'envoy/extensions/filters/common/matcher/action/v3/skip_action.proto' },
  { file: 'envoy/extensions/access_loggers/file/v3/file.proto' },
  { file: 'envoy/extensions/health_check/event_sinks/file/v3/file.proto' },
  { file: 'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto' },
  { file: 'envoy/extensions/retry/host/omit_host_metadata/v3/omit_host_metadata_config.proto' },
  { file: 'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto' },
  { file: 'envoy/config/bootstrap/v3/bootstrap.proto' },
  { file: 'envoy/extensions/upstreams/http/v3/http_protocol_options.proto' },
  { file: 'envoy/admin/v3/config_dump.proto' },
];

// Envoy's API comes from @grpc/grpc-js-xds's bundled copy (DESIGN.md: never copied into the repo).
// Its imports reach into the xds (udpa/xds annotations), googleapis and protoc-gen-validate trees;
// protobufjs carries google/protobuf/descriptor.proto, which the annotations import. The other
// google/protobuf/*.proto well-known types are built into protobufjs and never hit the disk.
const require = createRequire(import.meta.url);
const XDS_DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const PROTOBUF_DIR = dirname(require.resolve('protobufjs/package.json'));
const INCLUDE = [...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(XDS_DEPS, d)), PROTOBUF_DIR];

function locate(target: string): string | undefined {
  for (const dir of INCLUDE) {
    const candidate = join(dir, target);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

export interface EnvoyProtoInfo {
  /** Milliseconds spent parsing and resolving (once per process). */
  readonly loadMs: number;
  /** Number of .proto files in the root, imports included. */
  readonly files: number;
  /** Optional entry files absent from the bundled API, skipped. */
  readonly skipped: readonly string[];
}

interface Loaded {
  readonly root: protobuf.Root;
  readonly info: EnvoyProtoInfo;
}

let loaded: Loaded | undefined;

function load(): Loaded {
  const started = performance.now();
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => locate(target) ?? protobuf.util.path.resolve(origin, target);
  const present: string[] = [];
  const skipped: string[] = [];
  for (const { file, optional } of PROTO_FILES) {
    const path = locate(file);
    if (path !== undefined) present.push(path);
    else if (optional) skipped.push(file);
    else throw new Error(`Envoy API file ${file} is missing from @grpc/grpc-js-xds's deps/ (looked in ${INCLUDE.join(', ')})`);
  }
  // Field names stay as in the .proto (snake_case): the same spelling Envoy's own config dump uses.
  root.loadSync(present, { keepCase: true });
  snakeCaseStructValue(root);
  root.resolveAll();
  const info = { loadMs: Math.round(performance.now() - started), files: root.files.length, skipped };
  return { root, info };
}

/**
 * protobufjs builds google/protobuf/struct.proto from its own bundled JSON, whose Value fields are
 * camelCase (numberValue) whatever keepCase says. Respell them as in the .proto (number_value), so
 * every field of this root — Struct in node and endpoint metadata included — is spelled one way.
 * The wire format depends on field numbers only and is unchanged.
 */
function snakeCaseStructValue(root: protobuf.Root): void {
  const value = root.lookup('google.protobuf.Value');
  if (!(value instanceof protobuf.Type)) return;
  for (const field of [...value.fieldsArray]) {
    const name = field.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (name === field.name) continue;
    const oneof = field.partOf;
    oneof?.remove(field);
    value.remove(field);
    const respelled = new protobuf.Field(name, field.id, field.type, field.repeated ? 'repeated' : undefined, undefined, field.options);
    if (oneof) oneof.add(respelled);
    else value.add(respelled);
  }
}

/**
 * The protobufjs Root holding every type in ENVOY_TYPE. Parsing Envoy's API takes a few hundred
 * milliseconds, so it happens on first use, not on import: the CLI and the global CP import this
 * package and never pay for it. A zone CP may call it at start to take the cost before the first proxy.
 */
export function envoyRoot(): protobuf.Root {
  loaded ??= load();
  return loaded.root;
}

/** How loading went: time, file count, optional files skipped. Loads if not yet loaded. */
export function envoyProtoInfo(): EnvoyProtoInfo {
  loaded ??= load();
  return loaded.info;
}

const typeCache = new Map<string, protobuf.Type>();

/**
 * A message type of the Envoy root by fully-qualified name (no leading dot), or undefined when the
 * loaded API has no such message. Lookups are cached.
 */
export function findEnvoyType(name: string): protobuf.Type | undefined {
  const cached = typeCache.get(name);
  if (cached) return cached;
  const found = envoyRoot().lookup(name);
  if (!(found instanceof protobuf.Type)) return undefined;
  typeCache.set(name, found);
  return found;
}

/** Like findEnvoyType, for names that must exist: throws naming the type. */
export function envoyType(name: string): protobuf.Type {
  const type = findEnvoyType(name);
  if (!type) throw new Error(`Envoy type ${name} is not in the loaded API (see ENVOY_TYPE and envoyProtoInfo().skipped)`);
  return type;
}
