import { flag } from '@meshfed/shared';
import { z } from 'zod';

export const GlobalFlags = z
  .object({
    apiPort: flag.port(5681, 'REST API port'),
    apiAddress: flag.address('address the REST API listens on'),
    kdsPort: flag.port(5685, 'KDS (gRPC) port zones dial'),
    store: flag.store(),
    postgresUrl: flag.postgresUrl(),
    natsUrl: z.string().refine((u) => /^nats:\/\//.test(u), 'must be a nats:// URL').optional().describe('nats://host:4222, events between global replicas'),
    kdsTlsCert: z.string().min(1).optional().describe('PEM certificate for KDS (absent: self-signed at start)'),
    kdsTlsKey: z.string().min(1).optional().describe('PEM private key for --kds-tls-cert'),
    logLevel: flag.logLevel(),
  })
  .strict();
export type GlobalFlags = z.infer<typeof GlobalFlags>;

export const GLOBAL_SUMMARY = 'meshfed global control plane: accepts meshes and policies and serves them to zones over KDS.';
