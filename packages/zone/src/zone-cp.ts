import { readFile } from 'node:fs/promises';
import { FlagError, type Logger, refuseZoneTokens, registerZoneTokenRoutes, requirePostgresUrl, type RunningControlPlane, startControlPlane, ZoneTokens } from '@meshfed/shared';
import type { ZoneFlags } from './flags.js';
import { startAvailableServicesReconciler } from './ingress/available-services-reconciler.js';
import { KdsZoneClient } from './kds/kds-client.js';
import { stampZone } from './zone-stamp.js';

/** Starts a zone CP in this process: federated when --global-address is set, standalone otherwise. */
export async function startZone(flags: ZoneFlags, log?: Logger): Promise<RunningControlPlane> {
  requirePostgresUrl(flags);
  const federated = flags.globalAddress !== undefined;
  if (federated && !flags.zone) throw new FlagError('--zone is required with --global-address');
  if (flags.zoneToken && flags.zoneTokenFile) throw new FlagError('give --zone-token or --zone-token-file, not both');
  let token = flags.zoneToken;
  if (flags.zoneTokenFile) {
    token = (await readFile(flags.zoneTokenFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new FlagError(`cannot read --zone-token-file ${flags.zoneTokenFile}: ${e.code ?? e.message}`);
    })).trim();
    if (!token) throw new FlagError(`--zone-token-file ${flags.zoneTokenFile} is empty`);
  }
  if (federated && !token) throw new FlagError('a federated zone needs its zone token: --zone-token-file (or --zone-token), from "meshfed generate zone-token" on global');
  if (flags.kdsCaFile && flags.kdsSkipVerify) throw new FlagError('--kds-ca-file and --kds-skip-verify contradict each other: choose one');
  const caPem = flags.kdsCaFile
    ? await readFile(flags.kdsCaFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
        throw new FlagError(`cannot read --kds-ca-file ${flags.kdsCaFile}: ${e.code ?? e.message}`);
      })
    : undefined;
  const zone = flags.zone ?? 'default';
  const cp = await startControlPlane({
    component: 'zone', mode: federated ? 'zone' : 'standalone', zone, store: flags.store, postgresUrl: flags.postgresUrl,
    natsUrl: flags.natsUrl, natsSubjectPrefix: flags.natsSubjectPrefix,
    apiPort: flags.apiPort, apiAddress: flags.apiAddress, logLevel: flags.logLevel, createDefaultMesh: !federated,
    prepare: stampZone(zone, federated),
    ...(log ? { log } : {}),
    setup: async ({ store, bus, log: cpLog, telemetry }) => {
      if (!federated) {
        // A standalone zone is its own authority and issues zone tokens.
        const tokens = await ZoneTokens.open(store, { log: cpLog });
        const services = startAvailableServicesReconciler({ store, bus, log: cpLog, telemetry, zone });
        return { routes: (app) => registerZoneTokenRoutes(app, tokens), stop: () => services.stop() };
      }
      if (flags.kdsSkipVerify) cpLog.warn("--kds-skip-verify: global's KDS certificate is not verified; anyone on the path can pose as global");
      const client = new KdsZoneClient({
        zone, globalAddress: flags.globalAddress!, token: token!, ...(caPem !== undefined ? { caPem } : {}), skipVerify: flags.kdsSkipVerify,
        store, bus, log: cpLog, telemetry, maxMessageBytes: flags.kdsMaxMessageSize, ackTimeoutMs: flags.kdsAckTimeout,
        reconcileIntervalMs: flags.kdsReconcileInterval, backoffBaseMs: flags.kdsBackoffBase, backoffMaxMs: flags.kdsBackoffMax,
      });
      await client.start();
      // Keeps local ZoneIngresses' availableServices current; KDS carries them to global and other zones.
      const services = startAvailableServicesReconciler({ store, bus, log: cpLog, telemetry, zone });
      return {
        routes: refuseZoneTokens, info: () => ({ global: client.status() }),
        stop: async () => {
          try {
            await services.stop();
          } finally {
            await client.stop();
          }
        },
      };
    },
  });
  if (flags.dpAuth === 'none') cp.log.warn('dataplane authentication is off (--dp-auth none): any proxy can claim any identity; use it only in labs');
  return cp;
}
