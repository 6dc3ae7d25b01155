import { readFile } from 'node:fs/promises';
import {
  DataplaneTokens, endStreamsOnKeyRemoval, endStreamsOnRevocation, FlagError, type Logger, planApiTls, refuseZoneSigningKeys, refuseZoneTokenRevocations,
  refuseZoneTokens, registerDataplaneTokenRoutes, registerRevocationRoutes, registerSigningKeyRoutes, registerZoneTokenRoutes, removedKeyMessage,
  requirePostgresUrl, RevocationList, type RunningControlPlane, startControlPlane, StreamGuard, ZoneTokens, type ZoneTokenVerifier,
} from '@meshfed/shared';
import type { FastifyInstance } from 'fastify';
import type { ZoneFlags } from './flags.js';
import { startAvailableServicesReconciler } from './ingress/available-services-reconciler.js';
import { KdsZoneClient } from './kds/kds-client.js';
import { allowAll } from './xds/auth.js';
import { registerXdsCaRoute, registerXdsServerRoute } from './xds/bootstrap.js';
import { DataplaneLifecycle } from './xds/dataplane-lifecycle.js';
import { tokenAuthenticate } from './xds/proxy-auth.js';
import type { ProxyInsights } from './xds/proxy-insights.js';
import { startXdsService } from './xds/xds-service.js';
import { registerXdsRoutes } from './xds/xds-routes.js';
import { planXdsTls, startXdsTls } from './xds/xds-tls.js';
import { ZoneTokenKeyWatcher } from './xds/zone-token-key.js';
import { refuseZoneInsights } from './zone-insight-routes.js';
import { registerGatewayOverviewRoute } from './gateway-overview-routes.js';
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
  // Before anything starts, so a bad certificate flag is a FlagError and not a half-started zone.
  const xdsTlsPlan = await planXdsTls(flags);
  const apiTls = await planApiTls(flags);
  const zone = flags.zone ?? 'default';
  // What the zone adds to what it stores as its own: a REST PUT and a proxy's registration alike.
  const prepare = stampZone(zone, federated);
  const cp = await startControlPlane({
    component: 'zone', mode: federated ? 'zone' : 'standalone', zone, store: flags.store, postgresUrl: flags.postgresUrl,
    natsUrl: flags.natsUrl, natsSubjectPrefix: flags.natsSubjectPrefix,
    apiPort: flags.apiPort, apiAddress: flags.apiAddress, apiTls, apiAccess: flags, logLevel: flags.logLevel, createDefaultMesh: !federated,
    prepare,
    ...(log ? { log } : {}),
    setup: async ({ store, bus, log: cpLog, telemetry }) => {
      const routes: ((app: FastifyInstance) => void)[] = [];
      // Stopped in reverse order of start; also on a failed start, so nothing is left running.
      const stops: (() => void | Promise<void>)[] = [];
      const stopAll = async () => {
        for (const stop of stops.reverse()) {
          try {
            await stop();
          } catch (err) {
            cpLog.warn({ err }, 'a component failed to stop cleanly');
          }
        }
      };
      try {
        // One per CP: whatever invalidates a credential (a revoked token, a removed signing key) ends the proxy streams it opened.
        const guard = new StreamGuard();
        // Zone tokens (of ingresses and egresses) are revoked by whoever issues them: a standalone zone
        // itself, global for a federated zone, whose list arrives over KDS.
        const zoneRevocations = await RevocationList.open({ store, bus, kind: 'zone', log: cpLog });
        stops.push(() => zoneRevocations.close());
        endStreamsOnRevocation(zoneRevocations, guard, cpLog);
        const dataplaneRevocations = await RevocationList.open({ store, bus, kind: 'dataplane', log: cpLog });
        stops.push(() => dataplaneRevocations.close());
        endStreamsOnRevocation(dataplaneRevocations, guard, cpLog);
        routes.push((app) => registerRevocationRoutes(app, dataplaneRevocations));
        let zoneTokenVerifier: () => ZoneTokenVerifier | undefined;
        let client: KdsZoneClient | undefined;
        if (!federated) {
          // A standalone zone is its own authority: it issues and checks zone tokens.
          const tokens = await ZoneTokens.open(store, { log: cpLog, bus, isRevoked: zoneRevocations.isRevoked });
          stops.push(() => tokens.close());
          endStreamsOnKeyRemoval(tokens.ring, guard, 'zone', cpLog);
          zoneTokenVerifier = () => tokens.verifier;
          routes.push((app) => registerZoneTokenRoutes(app, tokens));
          routes.push((app) => registerSigningKeyRoutes(app, 'zone', tokens.ring));
          routes.push((app) => registerRevocationRoutes(app, zoneRevocations));
        } else {
          if (flags.kdsSkipVerify) cpLog.warn("--kds-skip-verify: global's KDS certificate is not verified; anyone on the path can pose as global");
          const kds = new KdsZoneClient({
            zone, globalAddress: flags.globalAddress!, token: token!, ...(caPem !== undefined ? { caPem } : {}), skipVerify: flags.kdsSkipVerify,
            store, bus, log: cpLog, telemetry, maxMessageBytes: flags.kdsMaxMessageSize, ackTimeoutMs: flags.kdsAckTimeout,
            reconcileIntervalMs: flags.kdsReconcileInterval, backoffBaseMs: flags.kdsBackoffBase, backoffMaxMs: flags.kdsBackoffMax,
          });
          client = kds;
          await kds.start();
          stops.push(() => kds.stop());
          // Ingress and egress proxies present zone tokens signed by global; its public key comes over KDS.
          const watcher = await ZoneTokenKeyWatcher.start({
            store, bus, log: cpLog, isRevoked: zoneRevocations.isRevoked,
            // Global withdrew a key it removed: ingresses and egresses connected with its tokens go now.
            onKeysRemoved: (removed) => {
              for (const k of removed) guard.endMatching((c) => c.kind === 'zone' && c.kid === k.kid, removedKeyMessage(k.serial));
            },
          });
          stops.push(() => watcher.close());
          zoneTokenVerifier = () => watcher.current();
          routes.push(refuseZoneTokens);
          routes.push(refuseZoneSigningKeys);
          routes.push((app) => refuseZoneTokenRevocations(app, zoneRevocations));
        }
        // Dataplane tokens are the zone's own, federated or not: its proxies connect to it, not to global.
        const dataplaneTokens = await DataplaneTokens.open(store, { log: cpLog, bus, isRevoked: dataplaneRevocations.isRevoked });
        stops.push(() => dataplaneTokens.close());
        endStreamsOnKeyRemoval(dataplaneTokens.ring, guard, 'dataplane', cpLog);
        routes.push((app) => registerDataplaneTokenRoutes(app, dataplaneTokens));
        routes.push((app) => registerSigningKeyRoutes(app, 'dataplane', dataplaneTokens.ring));
        // Keeps local ZoneIngresses' availableServices current; KDS carries them to global and other zones.
        const services = startAvailableServicesReconciler({ store, bus, log: cpLog, telemetry, zone });
        stops.push(() => services.stop());
        // A proxy that brings its Dataplane registers it for its stream's life; insights exist once xDS is up.
        let insights: ProxyInsights | undefined;
        const lifecycle = new DataplaneLifecycle({ store, log: cpLog, zone, prepare, insights: () => insights, deregistrationDelayMs: flags.dpDeregistrationDelay });
        // Dataplanes registered by proxies before this start wait for them to reconnect (then are deleted).
        await lifecycle.start();
        const authenticate = lifecycle.admitting(flags.dpAuth === 'none' ? allowAll : tokenAuthenticate({ zone, dataplaneTokens, zoneTokenVerifier, log: cpLog }));
        const tls = await startXdsTls(xdsTlsPlan, { store, address: flags.xdsAddress, log: cpLog });
        const xds = await startXdsService({
          zone, store, bus, log: cpLog, telemetry, address: flags.xdsAddress, port: flags.xdsPort, authenticate, ackTimeoutMs: flags.xdsAckTimeout,
          credentials: tls.credentials, ...(tls.caPem !== undefined ? { caPem: tls.caPem } : {}), guard,
        });
        stops.push(() => xds.stop());
        insights = xds.insights;
        // Runs before xds.stop: streams that the stop ends must not delete their Dataplanes, proxies come back.
        stops.push(() => lifecycle.stop());
        // Bootstraps dial ADS over TLS trusting caPem (absent: plaintext, --xds-insecure).
        const endpoint = { port: xds.port, address: flags.xdsAddress, ...(tls.caPem !== undefined ? { caPem: tls.caPem } : {}) };
        routes.push((app) => registerXdsRoutes(app, {
          cache: xds.cache, insights: xds.insights, store, zone, xds: endpoint,
          explain: (proxyId) => xds.reconciler.explain(proxyId),
          rules: { rulesOf: (mesh, name) => xds.reconciler.rulesOf(mesh, name), dataplanesOf: (type, mesh, name) => xds.reconciler.dataplanesOf(type, mesh, name) },
        }));
        routes.push((app) => registerGatewayOverviewRoute(app, { store, zone, insights: xds.insights, cache: xds.cache, explain: (proxyId) => xds.reconciler.explain(proxyId) }));
        routes.push((app) => registerXdsCaRoute(app, tls.caPem));
        routes.push((app) => registerXdsServerRoute(app, { port: xds.port, address: flags.xdsAddress, tls: tls.caPem !== undefined }));
        routes.push((app) => refuseZoneInsights(app, federated));
        return {
          routes: (app) => {
            for (const r of routes) r(app);
          },
          info: () => ({ ...(client ? { global: client.status() } : {}), xds: { port: xds.port, proxies: xds.cache.size } }),
          stop: stopAll,
        };
      } catch (err) {
        await stopAll();
        throw err;
      }
    },
  });
  if (flags.dpAuth === 'none') cp.log.warn('dataplane authentication is off (--dp-auth none): any proxy can claim any identity; use it only in labs');
  return cp;
}
