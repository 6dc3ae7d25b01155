import type { ServerCredentials } from '@grpc/grpc-js';
import type { EventBus, Logger, ResourceStore, StreamGuard, Telemetry } from '@meshfed/shared';
import { WorkloadCertificateCache } from '../mesh-ca/workload-certificate-cache.js';
import { AdsServer } from './ads-server.js';
import type { Authenticate } from './auth.js';
import { ProxyInsights } from './proxy-insights.js';
import { SnapshotCache } from './snapshot-cache.js';
import { startXdsReconciler, type XdsReconciler } from './xds-reconciler.js';

export interface XdsServiceOptions {
  readonly zone: string;
  readonly store: ResourceStore;
  readonly bus: EventBus;
  readonly log: Logger;
  readonly telemetry: Telemetry;
  readonly address: string;
  readonly port: number;
  readonly authenticate: Authenticate;
  readonly ackTimeoutMs?: number;
  /** How the ADS server binds: TLS, or createInsecure() for --xds-insecure (see AdsServerOptions). */
  readonly credentials: ServerCredentials;
  /** The CA proxies verify the ADS server with (bootstraps, GET /xds-ca.crt); absent when xDS is plaintext. */
  readonly caPem?: string;
  /** The zone CP's: ends the streams of proxies whose token is revoked or whose signing key is removed. */
  readonly guard?: StreamGuard;
}

/** The zone's xDS, assembled: certificates, generation, the snapshot cache and the ADS server. */
export interface XdsService {
  readonly cache: SnapshotCache;
  readonly insights: ProxyInsights;
  readonly reconciler: XdsReconciler;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startXdsService(o: XdsServiceOptions): Promise<XdsService> {
  const cache = new SnapshotCache((err, proxyId) => o.log.error({ err, proxyId }, 'xDS: a stream failed to take its new configuration'));
  let server: AdsServer | undefined;
  const insights = new ProxyInsights();
  const certificates = new WorkloadCertificateCache({ store: o.store, bus: o.bus });
  const reconciler = startXdsReconciler({
    store: o.store, bus: o.bus, log: o.log, telemetry: o.telemetry, zone: o.zone, cache, certificates,
    onProblem: (proxyId, problem) => {
      // A proxy neither configured nor connected has nothing left to show: forget it, so insights stay bounded.
      if (!cache.get(proxyId) && !server?.isConnected(proxyId)) insights.forget(proxyId);
      else insights.setProblem(proxyId, problem);
    },
  });
  server = new AdsServer({
    cache, insights, log: o.log, telemetry: o.telemetry, address: o.address, port: o.port, authenticate: o.authenticate, credentials: o.credentials,
    ...(o.ackTimeoutMs !== undefined ? { ackTimeoutMs: o.ackTimeoutMs } : {}),
    ...(o.guard ? { guard: o.guard } : {}),
    // A proxy that connects before it is registered waits for its configuration; its insight says why.
    onProxyConnected: (proxyId, identity) => {
      // It brought its Dataplane (meshfed-dp): registration is under way, and its first generation
      // says what, if anything, is wrong.
      if (identity.dataplane && !cache.get(proxyId)) return;
      // Whatever keeps it from being fully configured, said from the first moment it is connected.
      const why = reconciler.explain(proxyId);
      insights.setProblem(proxyId, why);
      if (!cache.get(proxyId)) o.log.warn({ proxyId, proxyType: identity.proxyType, problem: why }, 'xDS: proxy connected, but it has no configuration yet; it waits');
    },
    // A proxy with no resource here leaves nothing worth keeping: its insight goes with its stream,
    // so ids that were never registered cannot pile up.
    onProxyDisconnected: (proxyId) => {
      if (!cache.get(proxyId)) insights.forget(proxyId);
    },
  });
  let port: number;
  try {
    port = await server.start();
  } catch (err) {
    await reconciler.stop();
    certificates.close();
    throw err;
  }
  return {
    cache, insights, reconciler, port,
    async stop() {
      try {
        await server.stop();
      } finally {
        await reconciler.stop();
        certificates.close();
      }
    },
  };
}
