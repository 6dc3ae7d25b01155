import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import {
  endStreamsOnKeyRemoval, endStreamsOnRevocation, FlagError, generateSelfSignedCertificate, type Logger, MESHFED_VERSION, type PemKeyPair, planApiTls,
  registerRevocationRoutes, registerSigningKeyRoutes, registerZoneTokenRoutes, requirePostgresUrl, RevocationList, type RunningControlPlane,
  startControlPlane, StreamGuard, ZoneTokens,
} from '@meshfed/shared';
import type { GlobalFlags } from './flags.js';
import { registerInsightRoutes, ZoneInsights, ZoneInventory } from './insights/index.js';
import { registerGatewayOverviewRoute } from './insights/gateway-overview-routes.js';
import { KdsServer } from './kds/kds-server.js';
import { MeshCaManager } from './mesh-ca/index.js';
import { publishZoneTokenPublicKeys } from './tokens/publish-zone-token-key.js';

/** Starts the global CP in this process; the daemon and in-process tests both come through here. */
export async function startGlobal(flags: GlobalFlags, log?: Logger): Promise<RunningControlPlane & { kdsPort: number }> {
  requirePostgresUrl(flags);
  if ((flags.kdsTlsCert === undefined) !== (flags.kdsTlsKey === undefined)) {
    throw new FlagError('--kds-tls-cert and --kds-tls-key must be given together');
  }
  if (flags.kdsInsecure && flags.kdsTlsCert) throw new FlagError('--kds-insecure and --kds-tls-cert contradict each other: choose one');
  const given = flags.kdsTlsCert && flags.kdsTlsKey ? await readPair(flags.kdsTlsCert, flags.kdsTlsKey) : undefined;
  // Before anything starts, so a bad certificate flag is a FlagError and not a half-started CP.
  const apiTls = await planApiTls(flags);
  let kds: KdsServer | undefined;
  const cp = await startControlPlane({
    component: 'global', mode: 'global', store: flags.store, postgresUrl: flags.postgresUrl,
    natsUrl: flags.natsUrl, natsSubjectPrefix: flags.natsSubjectPrefix,
    apiPort: flags.apiPort, apiAddress: flags.apiAddress, apiTls, apiAccess: flags, logLevel: flags.logLevel, createDefaultMesh: true,
    ...(log ? { log } : {}),
    setup: async ({ instanceId, store, bus, log: cpLog, telemetry }) => {
      // One per CP: whatever invalidates a credential (a revoked token, a removed signing key) ends the streams it opened.
      const guard = new StreamGuard();
      // Zone tokens are revoked here; the list reaches zones over KDS, for their ingresses and egresses.
      const zoneRevocations = await RevocationList.open({ store, bus, kind: 'zone', log: cpLog });
      endStreamsOnRevocation(zoneRevocations, guard, cpLog);
      // Its keys rotate by serial through the API; replicas on one store follow each other's over the bus.
      const tokens = await ZoneTokens.open(store, { log: cpLog, bus, isRevoked: zoneRevocations.isRevoked });
      // Zones (and this CP's KDS) drop a removed key's tokens: their open streams end here at once.
      endStreamsOnKeyRemoval(tokens.ring, guard, 'zone', cpLog);
      // Before KDS starts, so that zones get the keys with their first sync; then as they rotate.
      const stopPublishing = await publishZoneTokenPublicKeys(store, tokens.ring, { log: cpLog });
      const insights = new ZoneInsights({ store, log: cpLog, instanceId, cpVersion: MESHFED_VERSION, healthCheckIntervalMs: flags.kdsHealthCheckInterval });
      insights.start();
      const tls = flags.kdsInsecure ? undefined : (given ?? (await selfSigned(cpLog)));
      if (flags.kdsInsecure) cpLog.warn('KDS is served without TLS (--kds-insecure): zone tokens travel in clear text; use it only in labs');
      kds = new KdsServer({
        store, bus, log: cpLog, telemetry, tokens, inventory: new ZoneInventory({ store }), insights,
        address: flags.kdsAddress, port: flags.kdsPort, ...(tls ? { tls } : {}),
        maxMessageBytes: flags.kdsMaxMessageSize, ackTimeoutMs: flags.kdsAckTimeout,
        reconcileIntervalMs: flags.kdsReconcileInterval, healthCheckIntervalMs: flags.kdsHealthCheckInterval, guard,
      });
      try {
        await kds.start();
      } catch (err) {
        await insights.stop();
        stopPublishing();
        tokens.close();
        zoneRevocations.close();
        throw err;
      }
      const server = kds;
      // Every mesh with a builtin mTLS backend gets its root CA here; the Secrets reach zones over KDS.
      const meshCa = new MeshCaManager({ store, bus, log: cpLog });
      meshCa.start();
      return {
        routes(app) {
          registerZoneTokenRoutes(app, tokens);
          registerSigningKeyRoutes(app, 'zone', tokens.ring);
          registerRevocationRoutes(app, zoneRevocations);
          registerInsightRoutes(app, { store, insights });
          registerGatewayOverviewRoute(app, store);
        },
        info: () => ({ kdsPort: server.port }),
        async stop() {
          await meshCa.stop();
          await server.stop();
          await insights.stop();
          stopPublishing();
          tokens.close();
          zoneRevocations.close();
        },
      };
    },
  });
  return Object.assign(cp, { kdsPort: kds!.port });
}

async function readPair(certFile: string, keyFile: string): Promise<PemKeyPair> {
  const read = (f: string, what: string) => readFile(f, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new FlagError(`cannot read ${what} ${f}: ${e.code ?? e.message}`);
  });
  return { certPem: await read(certFile, '--kds-tls-cert'), keyPem: await read(keyFile, '--kds-tls-key') };
}

/** Without a certificate given, KDS still runs over TLS: a self-signed one, made at each start. */
async function selfSigned(log: Logger): Promise<PemKeyPair> {
  const pair = await generateSelfSignedCertificate({ commonName: 'meshfed-global', dnsNames: ['localhost', hostname()], ipAddresses: ['127.0.0.1'], validDays: 365 });
  log.info('KDS uses a self-signed certificate made at start: zones need --kds-skip-verify, or give global a certificate with --kds-tls-cert/--kds-tls-key and zones its CA with --kds-ca-file');
  return pair;
}
