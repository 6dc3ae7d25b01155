import { ApiAccessFlags, ApiTlsFlags, flag } from '@meshfed/shared';
import { z } from 'zod';

export const GlobalFlags = z
  .object({
    apiPort: flag.port(5681, 'REST API port'),
    apiAddress: flag.address('address the REST API listens on'),
    ...ApiTlsFlags.shape,
    ...ApiAccessFlags.shape,
    kdsPort: flag.port(5685, 'KDS (gRPC) port zones dial'),
    store: flag.store(),
    postgresUrl: flag.postgresUrl(),
    natsUrl: flag.natsUrl('global replicas'),
    natsSubjectPrefix: flag.natsSubjectPrefix(),
    kdsTlsCert: z.string().min(1).optional().describe('PEM certificate for KDS (absent: self-signed at start)'),
    kdsTlsKey: z.string().min(1).optional().describe('PEM private key for --kds-tls-cert'),
    kdsInsecure: z.boolean().default(false).describe('serve KDS without TLS, for zones dialling grpc:// (labs only)'),
    kdsAddress: flag.address('address KDS listens on'),
    kdsMaxMessageSize: flag.bytes(4 * 1024 * 1024, 'largest KDS message in bytes; responses are split to fit'),
    kdsAckTimeout: flag.duration('30s', 'a KDS response un-ACKed this long is a stalled stream, restarted'),
    kdsReconcileInterval: flag.duration('30s', 'safety-net full comparison of every KDS stream'),
    kdsHealthCheckInterval: flag.duration('10s', 'how often zones health-check; offline after 3 missed'),
    logLevel: flag.logLevel(),
  })
  .strict();
export type GlobalFlags = z.infer<typeof GlobalFlags>;

export const GLOBAL_SUMMARY = 'meshfed global control plane: accepts meshes and policies and serves them to zones over KDS.';
