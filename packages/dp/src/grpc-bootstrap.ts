import { GRPC_SERVER_LISTENER_TEMPLATE, NODE_METADATA, PROXYLESS_CERT_PROVIDER } from '@meshfed/shared';
import type { CertFiles } from './secrets.js';

/** The gRPC xDS bootstrap (gRFC A27 + A29) as grpc-js-xds 1.14 reads it from GRPC_XDS_BOOTSTRAP. */
export interface GrpcBootstrap {
  readonly xds_servers: readonly { readonly server_uri: string; readonly channel_creds: readonly { readonly type: 'insecure' }[] }[];
  readonly node: {
    readonly id: string;
    readonly locality: { readonly zone: string };
    readonly metadata: Readonly<Record<string, string | boolean>>;
  };
  readonly server_listener_resource_name_template: string;
  readonly certificate_providers: Readonly<Record<string, { readonly plugin_name: 'file_watcher'; readonly config: Readonly<Record<string, string>> }>>;
}

export interface GrpcBootstrapInput {
  /** The agent's local ADS server, as grpc-js dials it: `127.0.0.1:port` or `unix:/path`. */
  readonly serverUri: string;
  readonly nodeId: string;
  readonly zone: string;
  readonly certFiles: CertFiles;
}

/**
 * The app dials the agent, never the zone: the agent holds the token and the TLS to the zone, so the
 * app's channel is plaintext on loopback (or a unix socket). Resource deletions are honoured (no
 * `ignore_resource_deletion`): a cluster the zone stops sending must go away in the app too. The
 * node is informational here, the agent's own node is what the zone sees.
 */
export function grpcBootstrap(i: GrpcBootstrapInput): GrpcBootstrap {
  return {
    xds_servers: [{ server_uri: i.serverUri, channel_creds: [{ type: 'insecure' }] }],
    node: {
      id: i.nodeId,
      locality: { zone: i.zone },
      metadata: { [NODE_METADATA.proxyType]: 'dataplane' },
    },
    server_listener_resource_name_template: GRPC_SERVER_LISTENER_TEMPLATE,
    certificate_providers: {
      [PROXYLESS_CERT_PROVIDER]: {
        plugin_name: 'file_watcher',
        config: {
          certificate_file: i.certFiles.certificateFile,
          private_key_file: i.certFiles.privateKeyFile,
          ca_certificate_file: i.certFiles.caCertificateFile,
          refresh_interval: '10s',
        },
      },
    },
  };
}
