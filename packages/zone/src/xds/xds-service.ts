import type { EventBus, Logger, ResourceStore, Telemetry } from '@meshfed/shared';
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
  const cache = new SnapshotCache();
  const insights = new ProxyInsights();
  const certificates = new WorkloadCertificateCache({ store: o.store, bus: o.bus });
  const reconciler = startXdsReconciler({
    store: o.store, bus: o.bus, log: o.log, telemetry: o.telemetry, zone: o.zone, cache, certificates,
    onProblem: (proxyId, problem) => insights.setProblem(proxyId, problem),
  });
  const server = new AdsServer({
    cache, insights, log: o.log, telemetry: o.telemetry, address: o.address, port: o.port, authenticate: o.authenticate,
    ...(o.ackTimeoutMs !== undefined ? { ackTimeoutMs: o.ackTimeoutMs } : {}),
    // A proxy that connects before it is registered waits for its configuration; its insight says why.
    onProxyConnected: (proxyId, identity) => {
      if (cache.get(proxyId)) return;
      const why = reconciler.explain(proxyId);
      insights.setProblem(proxyId, why);
      o.log.warn({ proxyId, proxyType: identity.proxyType, problem: why }, 'xDS: proxy connected, but it has no configuration yet; it waits');
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
