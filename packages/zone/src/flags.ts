import { ApiAccessFlags, ApiTlsFlags, flag, resourceNameSchema } from '@meshfed/shared';
import { z } from 'zod';

export const ZoneFlags = z
  .object({
    zone: resourceNameSchema.optional().describe('name of this zone (required with --global-address; standalone default "default")'),
    globalAddress: z
      .string()
      .refine((u) => /^grpcs?:\/\/[^/:]+(:\d+)?\/?$/.test(u), 'must be grpc://host:port or grpcs://host:port')
      .optional()
      .describe('KDS address of the global CP, grpcs://host:5685 (absent: standalone)'),
    zoneTokenFile: z.string().min(1).optional().describe('file holding the zone token issued by global'),
    zoneToken: z.string().min(1).optional().describe('the zone token itself'),
    kdsCaFile: z.string().min(1).optional().describe("PEM CA that signed global's KDS certificate"),
    kdsSkipVerify: z.boolean().default(false).describe("do not verify global's KDS certificate (labs only)"),
    apiPort: flag.port(5681, 'REST API port'),
    apiAddress: flag.address('address the REST API listens on'),
    ...ApiTlsFlags.shape,
    ...ApiAccessFlags.shape,
    xdsPort: flag.port(5678, 'xDS (ADS) port proxies dial'),
    xdsAddress: flag.address('address the xDS (ADS) server listens on'),
    xdsTlsCert: z.string().min(1).optional().describe("PEM certificate (chain) for xDS (absent: issued at start by the zone's own xDS CA, kept in its store)"),
    xdsTlsKey: z.string().min(1).optional().describe('PEM private key for --xds-tls-cert'),
    xdsTlsCa: z.string().min(1).optional().describe('PEM CA that signed --xds-tls-cert, put in bootstraps (absent: the certificate chain itself)'),
    xdsInsecure: z.boolean().default(false).describe('serve xDS without TLS: tokens and workload keys travel in clear text (labs and tests only)'),
    store: flag.store(),
    postgresUrl: flag.postgresUrl(),
    natsUrl: flag.natsUrl('zone CP replicas'),
    natsSubjectPrefix: flag.natsSubjectPrefix(),
    kdsMaxMessageSize: flag.bytes(4 * 1024 * 1024, 'largest KDS message in bytes; responses are split to fit'),
    kdsAckTimeout: flag.duration('30s', 'a KDS response un-ACKed this long is a stalled stream, restarted'),
    kdsReconcileInterval: flag.duration('30s', 'safety-net full comparison of the KDS stream to global'),
    kdsBackoffBase: flag.duration('1s', 'first wait before redialling global; doubles up to --kds-backoff-max, with jitter'),
    kdsBackoffMax: flag.duration('30s', 'longest wait between attempts to dial global'),
    xdsAckTimeout: flag.duration('30s', 'an xDS response un-ACKed this long is a stalled stream, ended so the proxy redials'),
    dpDeregistrationDelay: flag.duration('10s', 'a Dataplane a proxy registered from its stream (meshfed-dp) is deleted this long after the stream ends, unless it reconnects'),
    dpAuth: z.enum(['token', 'none'], { error: 'must be token or none' }).default('token').describe('proxy authentication: token, or none for labs'),
    logLevel: flag.logLevel(),
  })
  .strict();
export type ZoneFlags = z.infer<typeof ZoneFlags>;

export const ZONE_SUMMARY = 'meshfed zone control plane: serves xDS to the proxies of one zone, standalone or federated to a global CP.';
