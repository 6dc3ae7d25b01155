import { readFile } from 'node:fs/promises';
import { FlagError, type Logger, requirePostgresUrl, type RunningControlPlane, startControlPlane } from '@meshfed/shared';
import type { ZoneFlags } from './flags.js';
import { stampZone } from './zone-stamp.js';

/** Starts a zone CP in this process: federated when --global-address is set, standalone otherwise. */
export async function startZone(flags: ZoneFlags, log?: Logger): Promise<RunningControlPlane> {
  requirePostgresUrl(flags);
  const federated = flags.globalAddress !== undefined;
  if (federated && !flags.zone) throw new FlagError('--zone is required with --global-address');
  if (flags.zoneToken && flags.zoneTokenFile) throw new FlagError('give --zone-token or --zone-token-file, not both');
  if (flags.zoneTokenFile) {
    const token = (await readFile(flags.zoneTokenFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new FlagError(`cannot read --zone-token-file ${flags.zoneTokenFile}: ${e.code ?? e.message}`);
    })).trim();
    if (!token) throw new FlagError(`--zone-token-file ${flags.zoneTokenFile} is empty`);
  }
  if (flags.kdsCaFile) await readFile(flags.kdsCaFile).catch(() => { throw new FlagError(`cannot read --kds-ca-file ${flags.kdsCaFile}`); });
  const zone = flags.zone ?? 'default';
  const cp = await startControlPlane({
    component: 'zone', mode: federated ? 'zone' : 'standalone', zone, store: flags.store, postgresUrl: flags.postgresUrl,
    apiPort: flags.apiPort, apiAddress: flags.apiAddress, logLevel: flags.logLevel, createDefaultMesh: !federated,
    prepare: stampZone(zone),
    ...(log ? { log } : {}),
  });
  if (flags.dpAuth === 'none') cp.log.warn('dataplane authentication is off (--dp-auth none): any proxy can claim any identity; use it only in labs');
  if (flags.kdsSkipVerify) cp.log.warn("--kds-skip-verify: global's KDS certificate will not be verified");
  if (federated) cp.log.warn({ globalAddress: flags.globalAddress }, 'KDS federation is not implemented in this version: the zone refuses global-owned writes but receives nothing from global yet');
  return cp;
}
