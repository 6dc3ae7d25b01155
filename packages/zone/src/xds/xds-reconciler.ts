import { createHash } from 'node:crypto';
import {
  type EventBus, listAll, type Logger, MESH_CA_LABEL, type ResourceChangedEvent, type ResourceKind, type ResourceStore, type StoredResource, type Telemetry,
} from '@meshfed/shared';
import { type CachedWorkloadCertificate, MeshCaUnavailableError } from '../mesh-ca/workload-certificate-cache.js';
import { dep, dependencyVersions, fastHash, type GeneratedProxy, type GenerationContext, type ProxyCertificate, ResourceMemo } from './generate/context.js';
import { MESH_TAG } from './generate/cross-mesh.js';
import { GENERATORS, isProxyOf } from './generate/generators.js';
import { identityOf, servicesOfIdentity } from './generate/sidecar.js';
import { buildZoneIndex, type ZoneIndex } from './generate/zone-index.js';
import { RulesCache } from './generate/matching.js';
import { type DataplaneRulesView, dataplanesOf, type Lookup, type PolicyDataplanesView, rulesOf } from './inspect-rules.js';
import { POLICY_KINDS_LIST, type PolicyKind } from './rules/index.js';
import { ZONE_EGRESS_SERVICE } from './generate/zone-proxies.js';
import { CoalescingRunner } from '../coalescing-runner.js';
import { parseProxyId, proxyIdOf } from './proxy-id.js';
import { makeSnapshot } from './snapshot.js';
import type { SnapshotCache } from './snapshot-cache.js';

/** Where workload certificates come from (the zone's WorkloadCertificateCache). */
export interface CertificateSource {
  get(mesh: string, services: readonly string[]): Promise<CachedWorkloadCertificate>;
  /** A mesh CA's certificate, for proxies trusting other meshes (cross-mesh gateways and their callers). */
  caPem(mesh: string): Promise<string>;
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
  /** Proxy configurations generated since the start, over every run. */
  readonly generatedTotal: number;
  readonly runs: number;
}

export interface XdsReconciler {
  stop(): Promise<void>;
  /** Resolves after a run that started after this call (tests, benchmarks). */
  runNow(): Promise<void>;
  /** The same, a full run: every proxy regenerated, as the periodic safety net does (benchmarks). */
  resyncNow(): Promise<void>;
  /** Why a proxy id has no configuration, for a proxy that connects before it is registered. */
  explain(proxyId: string): string | undefined;
  /** A local dataplane's rules per policy type, as of the last run (`GET …/dataplanes/{name}/_rules`); else why not. */
  rulesOf(mesh: string, name: string): Lookup<DataplaneRulesView>;
  /** The local dataplanes a policy selects as of the last run, with why it may select fewer than meant; else why not known. */
  dataplanesOf(type: PolicyKind, mesh: string, name: string): Lookup<PolicyDataplanesView>;
  stats(): XdsReconcilerStats;
}

const WATCHED = ['Mesh', 'Dataplane', 'ZoneIngress', 'ZoneEgress', 'ExternalService', 'Secret', 'MeshGateway', 'MeshGatewayRoute', ...POLICY_KINDS_LIST] as const satisfies readonly ResourceKind[];
type Watched = (typeof WATCHED)[number];
const isWatched = (t: ResourceKind): t is Watched => (WATCHED as readonly string[]).includes(t);
const keyOf = (type: string, mesh: string | undefined, name: string) => `${type}/${mesh ?? ''}/${name}`;
/** A certificate due for rotation this soon is fetched again on a timer (Node's timers cap at ~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface ProxyState {
  deps: readonly string[];
  problem: string | undefined;
}

type FetchedCertificate = { readonly cert: ProxyCertificate; readonly rotateAt: number } | { readonly problem: string };

/** Proxies generated between two yields to the event loop: their pushes go out while the rest are generated. */
/**
 * A run holds the event loop at most about this long at a time: a mesh-wide change yields every few
 * milliseconds, so its first proxies' pushes are written and read while the rest are generated, and a
 * small change (a few dozen proxies) runs through without yielding at all.
 */
const SLICE_MS = 4;
/** Proxies between two looks at the clock. */
const CLOCK_EVERY = 16;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

const certVersions = new WeakMap<object, string>();
function certVersion(c: CachedWorkloadCertificate): string {
  let v = certVersions.get(c);
  if (!v) certVersions.set(c, (v = createHash('sha256').update(c.certPem).digest('base64url').slice(0, 16)));
  return v;
}

/** Problems that appeared or went away in one run, logged once per distinct problem with how many proxies it concerns. */
class ProblemLog {
  readonly #appeared = new Map<string, { proxies: number; examples: string[]; proxyTypes: Set<string> }>();
  readonly #resolved = { proxies: 0, examples: [] as string[] };

  add(problem: string, proxyId: string, proxyType: string): void {
    let g = this.#appeared.get(problem);
    if (!g) this.#appeared.set(problem, (g = { proxies: 0, examples: [], proxyTypes: new Set() }));
    g.proxies++;
    g.proxyTypes.add(proxyType);
    if (g.examples.length < 5) g.examples.push(proxyId);
  }

  resolved(proxyId: string): void {
    this.#resolved.proxies++;
    if (this.#resolved.examples.length < 5) this.#resolved.examples.push(proxyId);
  }

  write(log: Logger): void {
    for (const [problem, g] of this.#appeared) {
      const proxyTypes = [...g.proxyTypes].join(',');
      if (g.proxies === 1) log.warn({ proxyId: g.examples[0], proxyType: proxyTypes, problem }, 'xDS: proxy cannot be fully configured');
      else log.warn({ proxies: g.proxies, examples: g.examples, proxyType: proxyTypes, problem }, `xDS: ${g.proxies} proxies cannot be fully configured`);
    }
    const r = this.#resolved;
    if (r.proxies === 1) log.info({ proxyId: r.examples[0] }, 'xDS: proxy configuration problem resolved');
    else if (r.proxies > 1) log.info({ proxies: r.proxies, examples: r.examples }, `xDS: configuration problems of ${r.proxies} proxies resolved`);
  }
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
  const rules = new RulesCache();
  const proxies = new Map<string, ProxyState>();
  /** Dependency key → the proxies that named it: a change regenerates those, without a scan of every proxy. */
  const dependents = new Map<string, Set<string>>();
  /** Certificates fetched by earlier runs; only a full run (a CA change, a rotation, the resync) fetches them all again. */
  let certCache = new Map<string, FetchedCertificate>();
  let versions = new Map<string, string>();
  let index: ZoneIndex | undefined;
  let loaded = false;
  let pending = new Map<string, { type: Watched; mesh?: string; name: string }>();
  /** Proxies whose own resource changed since the last run. */
  let touched = new Set<string>();
  let fullRun = true;
  let firstChangeAt: number | undefined;
  let rotationTimer: NodeJS.Timeout | undefined;
  const runner = new CoalescingRunner(() => runOnce());
  let stats: XdsReconcilerStats = { proxies: 0, lastRunMs: 0, lastGenerated: 0, generatedTotal: 0, runs: 0 };

  const unsubscribe = o.bus.subscribe((events: readonly ResourceChangedEvent[]) => {
    if (runner.stopped) return;
    let relevant = false;
    for (const e of events) {
      // A mesh CA arrived or changed: certificates are fetched again on the next run. Any other Secret
      // (an ExternalService's TLS material) is read like the rest: only the proxies using it change.
      if (e.type === 'Secret' && e.mesh !== undefined && (e.labels[MESH_CA_LABEL] !== undefined || e.name.startsWith(`${e.mesh}.ca-builtin-`))) fullRun = true;
      if (!isWatched(e.type)) continue;
      pending.set(keyOf(e.type, e.mesh, e.name), { type: e.type, ...(e.mesh !== undefined ? { mesh: e.mesh } : {}), name: e.name });
      if (e.type === 'Dataplane' && e.mesh !== undefined) touched.add(`${e.mesh}.${e.name}`);
      if (e.type === 'ZoneIngress') touched.add(proxyIdOf('ingress', e.name));
      if (e.type === 'ZoneEgress') touched.add(proxyIdOf('egress', e.name));
      relevant = true;
    }
    if (relevant) {
      firstChangeAt ??= performance.now();
      void runner.trigger();
    }
  });
  const timer = o.resyncIntervalMs === 0 ? undefined : setInterval(() => {
    fullRun = true;
    void runner.trigger();
  }, o.resyncIntervalMs ?? 30_000);
  timer?.unref();

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

  /** The index problems of the last run, logged when they first appeared. */
  let loggedSkips = new Set<string>();

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
        zoneEgresses: values('ZoneEgress'), externalServices: values('ExternalService'), policies: POLICY_KINDS_LIST.flatMap(values), secrets: values('Secret'),
        meshGateways: values('MeshGateway'), meshGatewayRoutes: values('MeshGatewayRoute'),
      });
      const next = dependencyVersions(index, rules);
      const certs = await fetchCertificates(index, next, full);
      const cas = await fetchMeshCas(index, next);

      const changed = new Set<string>();
      for (const [k, v] of next) if (versions.get(k) !== v) changed.add(k);
      for (const k of versions.keys()) if (!next.has(k)) changed.add(k);
      versions = next;

      const ctx: GenerationContext = {
        index, versions, memo, rules,
        certificate: (mesh, service) => {
          const c = certs.get(`${mesh}\u0000${service}`);
          return c && 'cert' in c ? c.cert : undefined;
        },
        certificateProblem: (mesh, service) => {
          const c = certs.get(`${mesh}\u0000${service}`);
          return c && 'problem' in c ? c.problem : undefined;
        },
        meshCaPem: (mesh) => cas.get(mesh),
      };

      // Which proxies to generate: all on a full run; else those whose own resource changed, those new
      // to the reconciler, and the dependents of every changed dependency.
      const ix = index;
      const affected = new Set<string>();
      if (full) {
        for (const g of GENERATORS) for (const id of g.ids(ix)) affected.add(id);
      } else {
        // Whether a resource yields a proxy depends on that resource alone (its origin, zone, validity):
        // only a proxy whose own resource changed can appear or go, and those are in `own`.
        for (const id of own) affected.add(id);
        for (const d of changed) for (const id of dependents.get(d) ?? []) affected.add(id);
      }

      let generated = 0;
      // Logged once per distinct problem at the end of the run: a mesh-wide change can give thousands of proxies the same one.
      const problemLog = new ProblemLog();
      // Counted here and added once per run: OTel hashes a call's attributes on every add.
      const generatedByType = new Map<string, number>();
      const regenerate = (proxyId: string, type: string, gen: () => GeneratedProxy) => {
        const state = proxies.get(proxyId);
        let out: GeneratedProxy;
        try {
          out = gen();
        } catch (err) {
          // One proxy's configuration failing (a value Envoy's types cannot hold, a bug) must not stop the
          // run for every other proxy: this one keeps what it has, says why, and is tried again when
          // what it depended on changes (or on the next full run).
          out = { resources: undefined, deps: state?.deps ?? [], problems: [`its configuration could not be generated: ${(err as Error).message}; it keeps its previous one`] };
        }
        generated++;
        let published = false;
        if (out.resources) published = o.cache.set(proxyId, makeSnapshot(out.resources));
        const tally = `${type}\u0000${published}`;
        generatedByType.set(tally, (generatedByType.get(tally) ?? 0) + 1);
        const problem = out.problems.length > 0 ? out.problems.join('; ') : undefined;
        // A proxy's first generation is always said, even without a problem: what its insight showed
        // while it waited (explain(), at connect) is then replaced.
        if (state === undefined || problem !== state.problem) {
          if (problem) for (const p of out.problems) problemLog.add(p, proxyId, type);
          else if (state?.problem) problemLog.resolved(proxyId);
          o.onProblem?.(proxyId, problem);
        }
        setDeps(proxyId, state?.deps, out.deps);
        proxies.set(proxyId, { deps: out.deps, problem });
      };
      // The run yields every SLICE_MS: the streams write what was published meanwhile, so a mesh-wide
      // change reaches the first proxies early and pushes overlap the rest of the generation. Each proxy
      // is generated from this run's index whatever arrives meanwhile (that is the next run).
      let sinceClock = 0;
      let sliceStart = performance.now();
      for (const id of affected) {
        const generator = GENERATORS.find((g) => g.has(ix, id));
        if (!generator) continue;
        regenerate(id, generator.proxyType, () => generator.generate(ctx, ix, id)!);
        if (++sinceClock >= CLOCK_EVERY) {
          sinceClock = 0;
          if (performance.now() - sliceStart >= SLICE_MS && !runner.stopped) {
            await yieldToLoop();
            sliceStart = performance.now();
          }
        }
      }
      for (const [tally, n] of generatedByType) {
        const [type, changed] = tally.split('\u0000') as [string, string];
        generatedCounter.add(n, { proxy_type: type, changed });
      }
      // Deleting the current entry while iterating a Map is safe.
      for (const id of full ? proxies.keys() : own) {
        const state = proxies.get(id);
        if (!state || isProxyOf(ix, id)) continue;
        setDeps(id, state.deps, []);
        proxies.delete(id);
        o.cache.clear(id);
        // A proxy still streaming has everything removed (delta removals, SotW empty types) and is told why.
        o.onProblem?.(id, notRegistered(id));
      }
      problemLog.write(log);
      // A skipped resource is said once, not again on every run while it stays wrong.
      const skipped = new Set<string>();
      for (const p of index.problems) {
        const key = `${p.kind}\u0000${p.mesh ?? ''}\u0000${p.name}\u0000${p.message}`;
        skipped.add(key);
        if (!loggedSkips.has(key)) log.warn({ kind: p.kind, name: p.name, mesh: p.mesh, problem: p.message }, 'xDS: resource skipped');
      }
      loggedSkips = skipped;

      const ms = performance.now() - started;
      duration.record(ms / 1000);
      runsCounter.add(1, { result: 'ok' });
      stats = { proxies: proxies.size, lastRunMs: ms, lastGenerated: generated, generatedTotal: stats.generatedTotal + generated, runs: stats.runs + 1 };
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

  function setDeps(proxyId: string, before: readonly string[] | undefined, after: readonly string[]): void {
    // Usually a regenerated proxy reads what it read before, or nearly (mTLS adds a certificate):
    // only the difference touches the index, whose sets for a mesh hold every proxy of it.
    if (before && before.length === after.length && before.every((d, i) => d === after[i])) return;
    for (const d of before ?? []) {
      if (after.includes(d)) continue;
      const set = dependents.get(d);
      if (!set) continue;
      set.delete(proxyId);
      if (set.size === 0) dependents.delete(d);
    }
    for (const d of after) {
      if (before?.includes(d)) continue;
      let set = dependents.get(d);
      if (!set) dependents.set(d, (set = new Set()));
      set.add(proxyId);
    }
  }

  /**
   * Every certificate a proxy of the zone needs, fetched (issued or cached); versions join the
   * dependencies. Between full runs a certificate fetched before is reused as is: it changes only with
   * the mesh CA (a Secret event) or at rotation (a timer), and both make the next run full. Problems
   * are asked again on every run.
   */
  async function fetchCertificates(ix: ZoneIndex, next: Map<string, string>, full: boolean) {
    const wanted = new Map<string, { mesh: string; service: string }>();
    for (const dp of ix.dataplanes.values()) {
      const mesh = ix.meshes.get(dp.mesh);
      if (mesh?.mtlsBackend === undefined) continue;
      // An identity is one service or several (identityOf): one certificate each.
      const service = identityOf(dp);
      if (service !== undefined) wanted.set(`${dp.mesh}\u0000${service}`, { mesh: dp.mesh, service });
    }
    if (ix.egresses.size > 0) {
      for (const m of ix.meshes.values()) {
        if (m.mtlsBackend !== undefined && m.external.size > 0) wanted.set(`${m.name}\u0000${ZONE_EGRESS_SERVICE}`, { mesh: m.name, service: ZONE_EGRESS_SERVICE });
      }
    }
    const out = new Map<string, FetchedCertificate>();
    const missing: [string, { mesh: string; service: string }][] = [];
    for (const [key, w] of wanted) {
      const c = full ? undefined : certCache.get(key);
      if (c && 'cert' in c) out.set(key, c);
      else missing.push([key, w]);
    }
    await Promise.all(missing.map(async ([key, { mesh, service }]) => {
      try {
        const c = await o.certificates.get(mesh, servicesOfIdentity(service));
        out.set(key, { cert: { version: certVersion(c), certPem: c.certPem, keyPem: c.keyPem, caPem: c.caCertPem }, rotateAt: c.rotateAt.getTime() });
      } catch (err) {
        const problem = err instanceof MeshCaUnavailableError ? err.message : `cannot issue a certificate for ${mesh}/${service}: ${(err as Error).message}`;
        out.set(key, { problem });
      }
    }));
    let earliest = Infinity;
    for (const [key, { mesh, service }] of wanted) {
      const c = out.get(key)!;
      if ('cert' in c) {
        next.set(dep.certificate(mesh, service), c.cert.version);
        earliest = Math.min(earliest, c.rotateAt);
      } else next.set(dep.certificate(mesh, service), `problem:${c.problem}`);
    }
    certCache = out;
    scheduleRotation(earliest);
    return out;
  }

  /**
   * The CAs cross-mesh traffic trusts: every mesh's with mTLS when a local builtin gateway has a
   * crossMesh listener, and the gateway mesh's for each local outbound to another mesh. A CA's
   * version is its PEM's hash (`ca:<mesh>`), so a new CA regenerates those proxies alone.
   */
  async function fetchMeshCas(ix: ZoneIndex, next: Map<string, string>): Promise<Map<string, string>> {
    const wanted = new Set<string>();
    // No mesh offers a cross-mesh gateway here: nobody needs another mesh's CA (the common case, at no cost per run).
    if (![...ix.meshes.values()].some((m) => m.crossMesh.size > 0)) return new Map();
    for (const g of ix.builtinGateways.values()) {
      if (g.gateway?.spec.conf.listeners.some((l) => l.crossMesh)) for (const m of ix.meshes.values()) if (m.mtlsBackend !== undefined) wanted.add(m.name);
    }
    for (const dp of ix.dataplanes.values()) {
      for (const ob of dp.spec.networking.outbound ?? []) {
        const other = ob.tags[MESH_TAG];
        if (other !== undefined && other !== dp.mesh && ix.meshes.get(other)?.mtlsBackend !== undefined) wanted.add(other);
      }
    }
    const out = new Map<string, string>();
    await Promise.all([...wanted].map(async (mesh) => {
      try {
        out.set(mesh, await o.certificates.caPem(mesh));
      } catch (err) {
        // A CA not here yet is said on the proxies that need it (cross-mesh.ts): they wait for it.
        if (!(err instanceof MeshCaUnavailableError)) log.warn({ err, mesh }, 'cannot read the mesh CA for cross-mesh traffic; retrying on the next change');
      }
    }));
    for (const mesh of wanted) next.set(dep.meshCa(mesh), out.has(mesh) ? fastHash(out.get(mesh)!) : 'missing');
    return out;
  }

  function scheduleRotation(at: number): void {
    if (rotationTimer) clearTimeout(rotationTimer);
    rotationTimer = undefined;
    if (!Number.isFinite(at) || runner.stopped) return;
    rotationTimer = setTimeout(() => {
      fullRun = true;
      void runner.trigger();
    }, Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now()) + 1000));
    rotationTimer.unref();
  }

  void runner.trigger();

  return {
    async stop() {
      unsubscribe();
      if (timer) clearInterval(timer);
      if (rotationTimer) clearTimeout(rotationTimer);
      await runner.stop();
    },
    runNow: () => runner.trigger(),
    resyncNow: () => {
      fullRun = true;
      return runner.trigger();
    },
    explain(proxyId) {
      const state = proxies.get(proxyId);
      if (state) return state.problem;
      if (!index) return 'the zone control plane is still loading its resources';
      return notRegistered(proxyId);
    },
    // Reads of the last run's index and rules: what the proxies were generated from, no store I/O.
    rulesOf: (mesh, name) => rulesOf(index, rules, mesh, name),
    dataplanesOf: (type, mesh, name) => dataplanesOf(index, rules, type, mesh, name),
    stats: () => stats,
  };
}

/** Why a proxy id has no configuration when no resource of the zone is that proxy. */
function notRegistered(proxyId: string): string {
  const { proxyType, nodeId } = parseProxyId(proxyId);
  if (proxyType === 'dataplane') {
    const i = nodeId.indexOf('.');
    return `Dataplane "${nodeId.slice(i + 1)}" of mesh "${nodeId.slice(0, i)}" does not exist in this zone: register it (PUT /meshes/${nodeId.slice(0, i)}/dataplanes/${nodeId.slice(i + 1)})`;
  }
  const kind = proxyType === 'ingress' ? 'ZoneIngress' : 'ZoneEgress';
  return `${kind} "${nodeId}" does not exist in this zone: register it (PUT /${kind.toLowerCase()}es/${nodeId})`;
}
