import { access } from 'node:fs/promises';
import { FlagError, type Logger, requirePostgresUrl, type RunningControlPlane, startControlPlane } from '@meshfed/shared';
import type { GlobalFlags } from './flags.js';

/** Starts the global CP in this process; the daemon and in-process tests both come through here. */
export async function startGlobal(flags: GlobalFlags, log?: Logger): Promise<RunningControlPlane> {
  requirePostgresUrl(flags);
  if ((flags.kdsTlsCert === undefined) !== (flags.kdsTlsKey === undefined)) {
    throw new FlagError('--kds-tls-cert and --kds-tls-key must be given together');
  }
  for (const f of [flags.kdsTlsCert, flags.kdsTlsKey]) {
    if (f !== undefined) await access(f).catch(() => { throw new FlagError(`cannot read ${f}`); });
  }
  const cp = await startControlPlane({
    component: 'global', mode: 'global', store: flags.store, postgresUrl: flags.postgresUrl,
    apiPort: flags.apiPort, apiAddress: flags.apiAddress, logLevel: flags.logLevel, createDefaultMesh: true,
    ...(log ? { log } : {}),
  });
  // KDS (port flags.kdsPort) and the NATS bus arrive with federation; say so rather than pretend.
  cp.log.info({ kdsPort: flags.kdsPort, nats: flags.natsUrl ?? null }, 'KDS federation is not served by this version; zones run standalone');
  return cp;
}
