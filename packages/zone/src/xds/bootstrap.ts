import { isIP } from 'node:net';
import {
  access, ENVOY_EXTENSION_NAME, ENVOY_TYPE, type EnvoyObject, meshNameSchema, NotFoundError, portSchema, resourceNameSchema, toStruct, typed, XDS_CA_PATH, XDS_SERVER_INFO_PATH,
  type XdsServerInfo,
} from '@meshfed/shared';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ProxyType } from './auth.js';
import { xdsHostFor } from './xds-routes.js';

/** The static cluster every bootstrap dials the zone's ADS server through. */
export const ADS_CLUSTER_NAME = 'ads_cluster';
export const DEFAULT_ADMIN_PORT = 9901;

/**
 * `POST /bootstrap` body: Kuma's field names, the subset meshfed needs. Strict, so a typo
 * (`proxytype`) is a 400 naming the field instead of a bootstrap for the wrong proxy.
 */
export const BootstrapRequest = z
  .object({
    mesh: meshNameSchema.optional(),
    name: z.string({ error: (i) => (i.input === undefined ? 'is required' : 'must be a string') }).pipe(resourceNameSchema),
    proxyType: z.enum(['dataplane', 'ingress', 'egress'], { error: 'must be dataplane, ingress or egress' }).default('dataplane'),
    dataplaneToken: z.string({ error: 'must be a string' }).min(1, 'must not be empty').optional(),
    adminPort: portSchema.optional(),
  }, { error: (i) => (i.code === 'invalid_type' ? 'the body must be a JSON object with name, and mesh for a dataplane' : undefined) })
  .strict()
  .superRefine((b, ctx) => {
    // A dataplane's identity is <mesh>.<name>; ingresses and egresses serve every mesh and have none.
    if (b.proxyType === 'dataplane' && b.mesh === undefined) ctx.addIssue({ code: 'custom', path: ['mesh'], message: 'is required for a dataplane' });
    if (b.proxyType !== 'dataplane' && b.mesh !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['mesh'], message: `a zone ${b.proxyType} is not in a mesh: leave mesh out` });
    }
  });
export type BootstrapRequest = z.infer<typeof BootstrapRequest>;

/** Everything a bootstrap depends on; the route resolves it from the request and the store. */
export interface BootstrapInput {
  readonly proxyType: ProxyType;
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
      metadata: toStruct({ proxyType: input.proxyType }),
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

export { XDS_CA_PATH };

/**
 * `GET /xds-ca.crt`: the CA a bootstrap embeds, for proxies not configured through `POST /bootstrap`
 * (and for comparing its fingerprint with the zone CP's log). A certificate is public; no key here.
 */
export function registerXdsCaRoute(app: FastifyInstance, caPem: string | undefined): void {
  app.get(XDS_CA_PATH, access('open'), async (_request, reply) => {
    if (caPem === undefined) throw new NotFoundError('this zone serves xDS without TLS (--xds-insecure): there is no xDS CA');
    return reply.header('content-type', 'application/x-pem-file').send(caPem);
  });
}

/**
 * `GET /xds-server`: where the ADS server is reached (the host the caller reached this API by, unless
 * xDS binds a specific address) and whether it speaks TLS, for `meshfed-dp`. Open like the CA: it
 * says where to connect, not how to get in.
 */
export function registerXdsServerRoute(app: FastifyInstance, xds: { readonly port: number; readonly address?: string; readonly tls: boolean }): void {
  app.get(XDS_SERVER_INFO_PATH, access('open'), async (request): Promise<XdsServerInfo> => ({
    host: xdsHostFor(request.headers.host, xds.address),
    port: xds.port,
    tls: xds.tls,
  }));
}
