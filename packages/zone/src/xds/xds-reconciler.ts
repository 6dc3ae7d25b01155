import { createHash } from 'node:crypto';
import {
  type EventBus, listAll, type Logger, type ResourceChangedEvent, type ResourceKind, type ResourceStore, type StoredResource, type Telemetry,
} from '@meshfed/shared';
import { type CachedWorkloadCertificate, MeshCaUnavailableError } from '../mesh-ca/workload-certificate-cache.js';
import { dep, dependencyVersions, type GeneratedProxy, type GenerationContext, type ProxyCertificate, ResourceMemo } from './generate/context.js';
import { generateSidecar, identityServiceOf } from './generate/sidecar.js';
import { buildZoneIndex, type ZoneIndex } from './generate/zone-index.js';
import { generateZoneEgress, generateZoneIngress, ZONE_EGRESS_SERVICE } from './generate/zone-proxies.js';
import { makeSnapshot } from './snapshot.js';
import type { SnapshotCache } from './snapshot-cache.js';

/** Where workload certificates come from (the zone's WorkloadCertificateCache). */
export interface CertificateSource {
  get(mesh: string, service: string): Promise<CachedWorkloadCertificate>;
}

export interface XdsReconcilerOptions {
  readonly store: ResourceStore;
  readonly bus: EventBus;
  readonly log: Logger;
  readonly telemetry: Telemetry;
  readonly zone: string;
  readonly cache: SnapshotCache;
  readonly certificates: CertificateSource;
  /** Told what keeps a proxy from being configured (undefined once it is configured). */
  readonly onProblem?: (proxyId: string, problem: string | undefined) => void;
  /** Safety net for a lost event: a full rebuild this often (default 30 s). 0 turns it off. */
  readonly resyncIntervalMs?: number;
}

export interface XdsReconcilerStats {
  readonly proxies: number;
  readonly lastRunMs: number;
  readonly lastGenerated: number;
  readonly runs: number;
}

export interface XdsReconciler {
  stop(): Promise<void>;
  /** Resolves after a run that started after this call (tests, benchmarks). */
  runNow(): Promise<void>;
  /** Why a proxy id has no configuration, for a proxy that connects before it is registered. */
  explain(proxyId: string): string | undefined;
  stats(): XdsReconcilerStats;
}

const WATCHED = ['Mesh', 'Dataplane', 'ZoneIngress', 'ZoneEgress', 'ExternalService'] as const satisfies readonly ResourceKind[];
type Watched = (typeof WATCHED)[number];
const isWatched = (t: ResourceKind): t is Watched => (WATCHED as readonly string[]).includes(t);
const keyOf = (type: string, mesh: string | undefined, name: string) => `${type}/${mesh ?? ''}/${name}`;
/** A certificate due for rotation this soon is fetched again on a timer (Node's timers cap at ~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface ProxyState {
  deps: readonly string[];
  problem: string | undefined;
}

const certVersions = new WeakMap<object, string>();
function certVersion(c: CachedWorkloadCertificate): string {
  let v = certVersions.get(c);
  if (!v) certVersions.set(c, (v = createHash('sha256').update(c.certPem).digest('base64url').slice(0, 16)));
  return v;
}

/**
 * Turns the zone's resources into every local proxy's snapshot, and keeps them current. Events mark
 * resources dirty; one run at a time re-reads those, rebuilds the zone index (cheap: parsed specs are
 * cached by object), derives a version per dependency (a mesh, one destination service, a certificate,
 * what ingresses or egresses serve) and regenerates only the proxies that named a changed dependency,
 * plus those whose own resource changed. A change during a run causes exactly one more run.
 */
export function startXdsReconciler(o: XdsReconcilerOptions): XdsReconciler {
  const log = o.log.child({ reconciler: 'xds' });
  const runsCounter = o.telemetry.counter('meshfed_xds_reconcile_runs_total', 'xDS reconcile runs, by result');
  const generatedCounter = o.telemetry.counter('meshfed_xds_snapshots_generated_total', 'Proxy configurations generated, by proxy type and whether they changed');
  const duration = o.telemetry.histogram('meshfed_xds_reconcile_duration_seconds', 'Time from the first change of a run to every affected snapshot being published');

  const mirror = new Map<Watched, Map<string, StoredResource>>(WATCHED.map((t) => [t, new Map()]));
  const memo = new ResourceMemo();
  const proxies = new Map<string, ProxyState>();
  let versions = new Map<string, string>();
  let index: ZoneIndex | undefined;
  let loaded = false;
  let pending = new Map<string, { type: Watched; mesh?: string; name: string }>();
  /** Proxies whose own resource changed since the last run. */
  let touched = new Set<string>();
  let fullRun = true;
  let firstChangeAt: number | undefined;
  let stopped = false;
  let dirty = false;
  let running: Promise<void> | undefined;
  let rotationTimer: NodeJS.Timeout | undefined;
  let stats: XdsReconcilerStats = { proxies: 0, lastRunMs: 0, lastGenerated: 0, runs: 0 };

  const unsubscribe = o.bus.subscribe((events: readonly ResourceChangedEvent[]) => {
    if (stopped) return;
    let relevant = false;
    for (const e of events) {
      if (e.type === 'Secret') {
        // A mesh CA arrived or changed: certificates are fetched again on the next run.
        fullRun = true;
        relevant = true;
        continue;
      }
      if (!isWatched(e.type)) continue;
      pending.set(keyOf(e.type, e.mesh, e.name), { type: e.type, ...(e.mesh !== undefined ? { mesh: e.mesh } : {}), name: e.name });
      if (e.type === 'Dataplane' && e.mesh !== undefined) touched.add(`${e.mesh}.${e.name}`);
      if (e.type === 'ZoneIngress' || e.type === 'ZoneEgress') touched.add(e.name);
      relevant = true;
    }
    if (relevant) {
      firstChangeAt ??= performance.now();
      void trigger();
    }
  });
  const timer = o.resyncIntervalMs === 0 ? undefined : setInterval(() => {
    fullRun = true;
    void trigger();
  }, o.resyncIntervalMs ?? 30_000);
  timer?.unref();

  function trigger(): Promise<void> {
    if (stopped) return running ?? Promise.resolve();
    if (running) {
      dirty = true;
      return running;
    }
    running = loop();
    return running;
  }

  async function loop(): Promise<void> {
    try {
      do {
        dirty = false;
        await runOnce();
      } while (dirty && !stopped);
    } finally {
      running = undefined;
    }
  }

  async function load(): Promise<void> {
    const lists = await Promise.all(WATCHED.map((t) => listAll(o.store, t)));
    WATCHED.forEach((t, i) => {
      const m = new Map<string, StoredResource>();
      for (const r of lists[i]!) m.set(keyOf(t, r.mesh, r.name), r);
      mirror.set(t, m);
    });
  }

  async function refresh(keys: Map<string, { type: Watched; mesh?: string; name: string }>): Promise<void> {
    const entries = [...keys];
    const got = await Promise.all(entries.map(([, k]) => o.store.get({ type: k.type, name: k.name, ...(k.mesh !== undefined ? { mesh: k.mesh } : {}) })));
    entries.forEach(([key, k], i) => {
      const r = got[i];
      const m = mirror.get(k.type)!;
      if (r) m.set(key, r);
      else m.delete(key);
    });
  }

  async function runOnce(): Promise<void> {
    const started = firstChangeAt ?? performance.now();
    firstChangeAt = undefined;
    const keys = pending;
    pending = new Map();
    const own = touched;
    touched = new Set();
    const full = fullRun || !loaded;
    fullRun = false;
    try {
      if (!loaded) {
        await load();
        loaded = true;
      } else if (keys.size > 0) {
        await refresh(keys);
      }
      const values = (t: Watched) => [...mirror.get(t)!.values()];
      index = buildZoneIndex({
        zone: o.zone, meshes: values('Mesh'), dataplanes: values('Dataplane'), zoneIngresses: values('ZoneIngress'),
        zoneEgresses: values('ZoneEgress'), externalServices: values('ExternalService'),
      });
      const next = dependencyVersions(index);
      const certs = await fetchCertificates(index, next);

      const changed = new Set<string>();
      for (const [k, v] of next) if (versions.get(k) !== v) changed.add(k);
      for (const k of versions.keys()) if (!next.has(k)) changed.add(k);
      versions = next;

      const ctx: GenerationContext = {
        index, versions, memo,
        certificate: (mesh, service) => {
          const c = certs.get(`${mesh}\u0000${service}`);
          return c && 'certPem' in c ? c : undefined;
        },
        certificateProblem: (mesh, service) => {
          const c = certs.get(`${mesh}\u0000${service}`);
          return c && 'problem' in c ? c.problem : undefined;
        },
      };

      let generated = 0;
      const live = new Set<string>();
      const regenerate = (proxyId: string, type: string, gen: () => GeneratedProxy) => {
        live.add(proxyId);
        const state = proxies.get(proxyId);
        if (state && !full && !own.has(proxyId) && !state.deps.some((d) => changed.has(d))) return;
        const out = gen();
        generated++;
        let published = false;
        if (out.resources) published = o.cache.set(proxyId, makeSnapshot(out.resources));
        generatedCounter.add(1, { proxy_type: type, changed: String(published) });
        const problem = out.problems.length > 0 ? out.problems.join('; ') : undefined;
        if (problem !== state?.problem) {
          if (problem) log.warn({ proxyId, proxyType: type, problem }, 'xDS: proxy cannot be fully configured');
          else if (state?.problem) log.info({ proxyId, proxyType: type }, 'xDS: proxy configuration problem resolved');
          o.onProblem?.(proxyId, problem);
        }
        proxies.set(proxyId, { deps: out.deps, problem });
      };
      for (const dp of index.dataplanes.values()) regenerate(dp.proxyId, 'dataplane', () => generateSidecar(ctx, dp));
      for (const zi of index.ingresses.values()) regenerate(zi.proxyId, 'ingress', () => generateZoneIngress(ctx, zi));
      for (const ze of index.egresses.values()) regenerate(ze.proxyId, 'egress', () => generateZoneEgress(ctx, ze));
      for (const id of [...proxies.keys()]) {
        if (live.has(id)) continue;
        proxies.delete(id);
        o.cache.clear(id);
        o.onProblem?.(id, undefined);
      }
      for (const p of index.problems) log.warn({ kind: p.kind, name: p.name, mesh: p.mesh, problem: p.message }, 'xDS: resource skipped');

      const ms = performance.now() - started;
      duration.record(ms / 1000);
      runsCounter.add(1, { result: 'ok' });
      stats = { proxies: proxies.size, lastRunMs: ms, lastGenerated: generated, runs: stats.runs + 1 };
      log.debug({ proxies: proxies.size, generated, changedDeps: changed.size, ms: Math.round(ms) }, 'xDS: reconciled');
    } catch (err) {
      runsCounter.add(1, { result: 'error' });
      // Nothing was lost: the same keys are read again on the next run.
      for (const [k, v] of keys) if (!pending.has(k)) pending.set(k, v);
      for (const id of own) touched.add(id);
      fullRun ||= full;
      log.warn({ err }, 'xDS: reconcile failed; retrying on the next change');
    }
  }

  /** Every certificate a proxy of the zone needs, fetched (issued or cached); versions join the dependencies. */
  async function fetchCertificates(ix: ZoneIndex, next: Map<string, string>) {
    const wanted = new Map<string, { mesh: string; service: string }>();
    for (const dp of ix.dataplanes.values()) {
      const mesh = ix.meshes.get(dp.mesh);
      const service = identityServiceOf(dp);
      if (mesh?.mtlsBackend !== undefined && service !== undefined) wanted.set(`${dp.mesh}\u0000${service}`, { mesh: dp.mesh, service });
    }
    if (ix.egresses.size > 0) {
      for (const m of ix.meshes.values()) {
        if (m.mtlsBackend !== undefined && m.external.size > 0) wanted.set(`${m.name}\u0000${ZONE_EGRESS_SERVICE}`, { mesh: m.name, service: ZONE_EGRESS_SERVICE });
      }
    }
    const out = new Map<string, ProxyCertificate | { problem: string }>();
    let earliest = Infinity;
    await Promise.all([...wanted].map(async ([key, { mesh, service }]) => {
      try {
        const c = await o.certificates.get(mesh, service);
        const version = certVersion(c);
        out.set(key, { version, certPem: c.certPem, keyPem: c.keyPem, caPem: c.caCertPem });
        next.set(dep.certificate(mesh, service), version);
        earliest = Math.min(earliest, c.rotateAt.getTime());
      } catch (err) {
        const problem = err instanceof MeshCaUnavailableError ? err.message : `cannot issue a certificate for ${mesh}/${service}: ${(err as Error).message}`;
        out.set(key, { problem });
        next.set(dep.certificate(mesh, service), `problem:${problem}`);
      }
    }));
    scheduleRotation(earliest);
    return out;
  }

  function scheduleRotation(at: number): void {
    if (rotationTimer) clearTimeout(rotationTimer);
    rotationTimer = undefined;
    if (!Number.isFinite(at) || stopped) return;
    rotationTimer = setTimeout(() => {
      fullRun = true;
      void trigger();
    }, Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now()) + 1000));
    rotationTimer.unref();
  }

  void trigger();

  return {
    async stop() {
      stopped = true;
      unsubscribe();
      if (timer) clearInterval(timer);
      if (rotationTimer) clearTimeout(rotationTimer);
      await running;
    },
    runNow: () => trigger(),
    explain(proxyId) {
      const state = proxies.get(proxyId);
      if (state) return state.problem;
      if (!index) return 'the zone control plane is still loading its resources';
      if (proxyId.includes('.')) {
        const i = proxyId.indexOf('.');
        return `Dataplane "${proxyId.slice(i + 1)}" of mesh "${proxyId.slice(0, i)}" does not exist in this zone: register it (PUT /meshes/${proxyId.slice(0, i)}/dataplanes/${proxyId.slice(i + 1)})`;
      }
      return `no ZoneIngress or ZoneEgress named "${proxyId}" exists in this zone: register it`;
    },
    stats: () => stats,
  };
}
