import { ChannelCredentials, ServerCredentials } from '@grpc/grpc-js';
import type { PemKeyPair } from './certificates.js';

/** TLS for a gRPC server (KDS on global): no client certificates, zones authenticate with tokens. */
export function serverCredentials(pair: PemKeyPair): ServerCredentials {
  return ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(pair.certPem), private_key: Buffer.from(pair.keyPem) }], false);
}

export interface ClientTlsOptions {
  /** PEM of the CA (or the self-signed certificate) the server's certificate must chain to. Absent: the system's roots. */
  readonly caPem?: string;
  /** Accept any certificate and any name: encrypted but not authenticated. Callers say so in their log. */
  readonly skipVerify?: boolean;
}

/** TLS for a gRPC client (a zone dialling KDS): verifies against `caPem`, the system roots, or nothing when told. */
export function clientCredentials(o: ClientTlsOptions = {}): ChannelCredentials {
  if (o.skipVerify && o.caPem !== undefined) throw new TypeError('give a CA to verify with or skip verification, not both');
  if (o.skipVerify) return ChannelCredentials.createSsl(null, null, null, { rejectUnauthorized: false, checkServerIdentity: () => undefined });
  return ChannelCredentials.createSsl(o.caPem !== undefined ? Buffer.from(o.caPem) : null);
}
