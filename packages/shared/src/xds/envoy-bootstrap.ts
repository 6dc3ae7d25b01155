import { isIP } from 'node:net';
import { ENVOY_TYPE } from './envoy-proto.js';
import { ENVOY_EXTENSION_NAME } from './names.js';
import { NODE_METADATA } from './proxyless.js';
import { type EnvoyObject, toStruct, typed } from './resources.js';

// The Envoy bootstrap a zone answers at POST /bootstrap and meshfed-dp writes for an Envoy workload:
// one function, so the two never drift.

/** The static cluster every bootstrap dials the zone's ADS server through. */
export const ADS_CLUSTER_NAME = 'ads_cluster';
export const DEFAULT_ADMIN_PORT = 9901;

/** Everything a bootstrap depends on: the zone's route resolves it from the request and its store, meshfed-dp from its Dataplane and GET /xds-server. */
export interface BootstrapInput {
  readonly proxyType: 'dataplane' | 'ingress' | 'egress';
  /** `<mesh>.<name>` for a dataplane, `<name>` for a zone ingress or egress (DESIGN: xDS identity). */
  readonly nodeId: string;
  /** Envoy's `node.cluster`: the dataplane's service, else the proxy's name (what stats are tagged with). */
  readonly cluster: string;
  readonly adminPort: number;
  /** Where the zone's ADS server is reached from the proxy: an IP address or a DNS name. */
  readonly xdsHost: string;
  readonly xdsPort: number;
  /** Sent as `authorization: Bearer <token>` on the ADS stream. */
  readonly token?: string;
  /**
   * PEM of the CA that signed the ADS server's certificate: the proxy dials ADS over TLS and trusts
   * only it. Absent only when the zone serves xDS in plaintext (--xds-insecure).
   */
  readonly xdsCaPem?: string;
  /**
   * The Dataplane (as its YAML: type, mesh, name, networking), sent in the node's metadata: the zone
   * registers it while Envoy's stream lives (meshfed-dp). Absent when it is registered by hand.
   */
  readonly dataplane?: Readonly<Record<string, unknown>>;
}

/** HTTP/2 to the ADS server, the current way (the Cluster's own http2_protocol_options is deprecated). */
function http2(): EnvoyObject {
  return {
    typed_extension_protocol_options: {
      [ENVOY_TYPE.httpProtocolOptions]: typed(ENVOY_TYPE.httpProtocolOptions, { explicit_http_config: { http2_protocol_options: {} } }),
    },
  };
}

function socketAddress(address: string, port: number): EnvoyObject {
  return { socket_address: { address, port_value: port } };
}

/**
 * TLS to the ADS server: the token and every SDS private key travel inside it. The certificate must
 * chain to `caPem` and name the host the proxy dials (without the name check any certificate from a
 * shared CA would do). SNI carries names only: RFC 6066 forbids IP literals there.
 */
function adsTls(host: string, caPem: string): EnvoyObject {
  const ip = isIP(host) !== 0;
  return {
    name: ENVOY_EXTENSION_NAME.tlsTransportSocket,
    typed_config: typed(ENVOY_TYPE.upstreamTlsContext, {
      ...(ip ? {} : { sni: host }),
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
        // grpc-js serves HTTP/2 only and refuses a TLS client that does not negotiate h2.
        alpn_protocols: ['h2'],
        validation_context: {
          trusted_ca: { inline_string: caPem },
          match_typed_subject_alt_names: [{ san_type: ip ? 'IP_ADDRESS' : 'DNS', matcher: { exact: host } }],
        },
      },
    }),
  };
}

/**
 * An Envoy v3 Bootstrap, in the plain form `typed(ENVOY_TYPE.bootstrap, …)` encodes: the node's
 * identity, the admin listener on loopback, and ADS for listeners and clusters (the rest follows from
 * them) over one gRPC stream to the zone CP.
 *
 * With `xdsCaPem` the ADS connection is TLS, verified against that CA and the dialled host (Kuma puts
 * the control plane's CA in its bootstraps the same way); without it, plaintext.
 *
 * ADS uses the delta protocol (DELTA_GRPC): on every reconnect Envoy reports the versions it holds
 * and the zone CP sends only what differs, and a changed endpoint travels alone instead of with every
 * other resource of its type. The zone CP serves state-of-the-world too, for proxies that ask for it.
 */
export function generateBootstrap(input: BootstrapInput): EnvoyObject {
  const grpcService: EnvoyObject = {
    envoy_grpc: { cluster_name: ADS_CLUSTER_NAME },
    ...(input.token !== undefined ? { initial_metadata: [{ key: 'authorization', value: `Bearer ${input.token}` }] } : {}),
  };
  const viaAds = { ads: {}, resource_api_version: 'V3' };
  return {
    node: {
      id: input.nodeId,
      cluster: input.cluster,
      metadata: toStruct({
        [NODE_METADATA.proxyType]: input.proxyType,
        ...(input.dataplane !== undefined ? { [NODE_METADATA.dataplaneResource]: JSON.stringify(input.dataplane) } : {}),
      }),
    },
    admin: { address: socketAddress('127.0.0.1', input.adminPort) },
    dynamic_resources: {
      ads_config: {
        api_type: 'DELTA_GRPC',
        transport_api_version: 'V3',
        grpc_services: [grpcService],
        // The zone CP reads the node from the first request of a stream only.
        set_node_on_first_message_only: true,
      },
      cds_config: viaAds,
      lds_config: viaAds,
    },
    static_resources: {
      clusters: [
        {
          name: ADS_CLUSTER_NAME,
          // An IP needs no resolver; a name is re-resolved, so a zone CP that moves is found again.
          type: isIP(input.xdsHost) === 0 ? 'STRICT_DNS' : 'STATIC',
          // `localhost` resolves to ::1 first on many hosts while the CP often listens on IPv4 only.
          ...(isIP(input.xdsHost) === 0 ? { dns_lookup_family: 'V4_PREFERRED' } : {}),
          connect_timeout: { seconds: 1 },
          // Keepalives notice a zone CP that vanished without closing the connection.
          upstream_connection_options: { tcp_keepalive: {} },
          load_assignment: {
            cluster_name: ADS_CLUSTER_NAME,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(input.xdsHost, input.xdsPort) } }] }],
          },
          ...http2(),
          ...(input.xdsCaPem !== undefined ? { transport_socket: adsTls(input.xdsHost, input.xdsCaPem) } : {}),
        },
      ],
    },
  };
}
