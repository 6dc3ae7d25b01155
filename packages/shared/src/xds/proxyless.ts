/**
 * The contract between the zone CP, `meshfed-dp` and a proxyless gRPC app (grpc-js-xds): the names
 * each side must spell the same way.
 */

/**
 * The certificate provider instance every TLS context served to a proxyless proxy names (gRPC A29),
 * and the key of the `file_watcher` provider `meshfed-dp` writes into the app's bootstrap.
 */
export const PROXYLESS_CERT_PROVIDER = 'meshfed-mesh';

/** The bootstrap's `server_listener_resource_name_template`: an XdsServer asks for this Listener. */
export const GRPC_SERVER_LISTENER_TEMPLATE = 'grpc/server?xds.resource.listening_address=%s';

/** The Listener an XdsServer bound to `address:port` asks for (the bind string, verbatim). */
export function grpcServerListenerName(address: string, port: number): string {
  const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
  return GRPC_SERVER_LISTENER_TEMPLATE.replace('%s', `${host}:${port}`);
}

/**
 * Node metadata keys a proxy may send on its first ADS request: `dataplane.resource` carries the
 * Dataplane (JSON, as its YAML: type, mesh, name, networking) that the zone registers while the
 * stream lives (Kuma's dataplane lifecycle for universal kuma-dp). Whether the node is a gRPC app is
 * the Dataplane's own `networking.proxyless`; the agent's version travels in `node.user_agent_version`.
 */
export const NODE_METADATA = {
  proxyType: 'proxyType',
  dataplaneResource: 'dataplane.resource',
} as const;

/**
 * The label a zone puts on a Dataplane it registered from a proxy's stream (meshfed-dp): it is deleted
 * when its proxy is gone, and a zone that restarts deletes those whose proxy never comes back. A
 * Dataplane PUT by an operator has no such label and is never deleted by the zone.
 */
export const STREAM_REGISTERED_LABEL = { key: 'meshfed.io/registered-by', value: 'xds-stream' } as const;

/** Where a zone serves the PEM of its xDS CA (open): what meshfed-dp and a proxy configured by hand trust. */
export const XDS_CA_PATH = '/xds-ca.crt';

/**
 * `GET /xds-server` on a zone's REST API: where its ADS server is reached and whether it speaks TLS
 * (its CA at GET /xds-ca.crt). Public, like the CA: it says where to connect, not how to get in.
 */
export const XDS_SERVER_INFO_PATH = '/xds-server';
export interface XdsServerInfo {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}
