import {
  canonicalJson, type EventBus, LABEL_ORIGIN, listAll, type Logger, NotFoundError, type ResourceChangedEvent, type ResourceKind,
  type ResourceStore, type StoredResource, type Telemetry, VersionConflictError,
} from '@meshfed/shared';
import { CoalescingRunner } from '../coalescing-runner.js';
import { type AvailableService, computeAvailableServices } from './available-services.js';

export interface AvailableServicesReconcilerOptions {
  readonly store: ResourceStore;
  readonly bus: EventBus;
  readonly log: Logger;
  readonly telemetry: Telemetry;
  /** This zone: an ingress whose spec names another zone is not ours to update. */
  readonly zone: string;
  /** Safety net for a lost event: a full recompute this often (default 30 s). 0 turns it off. */
  readonly resyncIntervalMs?: number;
}

export interface AvailableServicesReconciler {
  /** Stops reacting; resolves once a recompute in progress has finished, so nothing is written after. */
  stop(): Promise<void>;
  /** Resolves after a recompute that started after this call has finished (tests, and the impatient). */
  runNow(): Promise<void>;
}

/** Changes of these kinds can change what the zone offers; a new local ingress needs its list. */
const WATCHED: ReadonlySet<ResourceKind> = new Set<ResourceKind>(['Dataplane', 'ExternalService', 'Mesh', 'MeshGateway', 'ZoneIngress']);
const WRITE_ATTEMPTS = 4;
const DEFAULT_RESYNC_MS = 30_000;

const fromGlobal = (r: { labels: Readonly<Record<string, string>> }) => r.labels[LABEL_ORIGIN] === 'global';
const ingressKey = (name: string) => `ZoneIngress/${name}`;

/**
 * Keeps every local ZoneIngress's `availableServices` equal to what the zone offers. Events only mark
 * the state dirty: one recompute runs at a time, and whatever arrives meanwhile causes exactly one
 * more, so a burst of N changes costs at most two recomputes. Each recompute re-reads the store (it
 * holds nothing between runs) and writes an ingress only when its list differs, with the version it
 * read, so concurrent writers (users, other replicas) are never overwritten blindly.
 */
export function startAvailableServicesReconciler(o: AvailableServicesReconcilerOptions): AvailableServicesReconciler {
  const log = o.log.child({ reconciler: 'available-services' });
  const recomputes = o.telemetry.counter('meshfed_available_services_recomputes_total', 'Recomputes of the ZoneIngress available services, by result');
  const writes = o.telemetry.counter('meshfed_available_services_writes_total', 'Writes of a ZoneIngress whose available services changed, by result');
  const duration = o.telemetry.histogram('meshfed_available_services_recompute_duration_seconds', 'Time to recompute the available services and write what changed');
  let lastCount: number | undefined;
  const gauge = o.telemetry.meter.createObservableGauge('meshfed_available_services', { description: 'Entries in the local ZoneIngresses\' available services, as last computed' });
  const observe = (r: { observe(v: number): void }) => {
    if (lastCount !== undefined) r.observe(lastCount);
  };
  gauge.addCallback(observe);

  const runner = new CoalescingRunner(() => recomputeOnce());
  /** Ingresses this reconciler is writing now → versions of their events seen meanwhile (our own among them). */
  const inFlight = new Map<string, string[]>();

  const unsubscribe = o.bus.subscribe((events: readonly ResourceChangedEvent[]) => {
    if (runner.stopped) return;
    for (const e of events) {
      if (!WATCHED.has(e.type)) continue;
      if (e.type === 'ZoneIngress') {
        if (fromGlobal(e)) continue; // another zone's ingress: offers nothing of ours
        const seen = inFlight.get(ingressKey(e.name));
        if (seen) {
          seen.push(e.version); // decided when our commit returns: ours, or someone else's
          continue;
        }
      } else if (e.type === 'Dataplane' && fromGlobal(e)) {
        continue;
      }
      runner.trigger();
      return;
    }
  });

  const timer = o.resyncIntervalMs === 0 ? undefined : setInterval(() => runner.trigger(), o.resyncIntervalMs ?? DEFAULT_RESYNC_MS);
  timer?.unref();

  async function recomputeOnce(): Promise<void> {
    const started = performance.now();
    try {
      const [dataplanes, externalServices, meshes, meshGateways, ingresses] = await Promise.all([
        listAll(o.store, 'Dataplane'), listAll(o.store, 'ExternalService'), listAll(o.store, 'Mesh'), listAll(o.store, 'MeshGateway'), listAll(o.store, 'ZoneIngress'),
      ]);
      const listed = performance.now();
      const services = computeAvailableServices({ dataplanes, externalServices, meshes, meshGateways, zone: o.zone });
      lastCount = services.length;
      let written = 0;
      for (const ingress of ingresses) {
        if (runner.stopped) break;
        if (!isLocal(ingress)) continue;
        if (await update(ingress, services)) written++;
      }
      const ms = performance.now() - started;
      recomputes.add(1, { result: 'ok' });
      duration.record(ms / 1000);
      log.debug({ dataplanes: dataplanes.length, services: services.length, ingressesWritten: written, listMs: Math.round(listed - started), totalMs: Math.round(ms) }, 'available services recomputed');
    } catch (err) {
      recomputes.add(1, { result: 'error' });
      duration.record((performance.now() - started) / 1000);
      // Retried on the next change or the safety-net resync.
      log.info({ err }, 'available services: recompute failed; retrying on the next change');
    }
  }

  function isLocal(ingress: StoredResource): boolean {
    if (fromGlobal(ingress)) return false;
    const zone = ingress.spec.zone;
    return zone === undefined || zone === o.zone;
  }

  /** Writes one ingress if its list differs; true when it wrote. Re-reads and retries on a version conflict. */
  async function update(read: StoredResource, services: AvailableService[]): Promise<boolean> {
    let current: StoredResource | undefined = read;
    for (let attempt = 1; current && attempt <= WRITE_ATTEMPTS; attempt++) {
      const had = current.spec.availableServices ?? [];
      if (canonicallyEqual(had, services)) return false;
      const key = ingressKey(current.name);
      const seen: string[] = [];
      inFlight.set(key, seen);
      let conflict = false;
      try {
        const { written } = await o.store.commit([{
          op: 'put',
          resource: { type: 'ZoneIngress', name: current.name, labels: current.labels, spec: { ...current.spec, availableServices: services } },
          expectedVersion: current.version,
        }]);
        writes.add(1, { result: 'ok' });
        // An event of another version arrived while we wrote: someone else changed it too; look again.
        if (seen.some((v) => v !== written[0]?.version)) runner.again();
        log.debug({ ingress: current.name, version: written[0]?.version, ...diffCounts(had, services) }, 'available services changed');
        return true;
      } catch (err) {
        if (seen.length > 0) runner.again();
        if (err instanceof NotFoundError) return false; // deleted meanwhile: nothing to keep up to date
        if (!(err instanceof VersionConflictError)) throw err;
        conflict = true;
      } finally {
        inFlight.delete(key);
      }
      if (conflict) {
        writes.add(1, { result: 'conflict' });
        log.debug({ ingress: current.name, attempt }, 'available services: version conflict, reading again');
        current = await o.store.get({ type: 'ZoneIngress', name: current.name });
        if (current && !isLocal(current)) return false;
      }
    }
    if (current) {
      writes.add(1, { result: 'gave_up' });
      log.info({ ingress: current.name, attempts: WRITE_ATTEMPTS }, 'available services: ingress kept changing under us; retrying on the next change');
      runner.again();
    }
    return false;
  }

  void runner.trigger();

  return {
    async stop() {
      unsubscribe();
      if (timer) clearInterval(timer);
      gauge.removeCallback(observe);
      await runner.stop();
    },
    runNow() {
      return runner.trigger();
    },
  };
}

/**
 * Whether two JSON values serialize to the same canonical JSON (object key order ignored, array order
 * not), without building the strings: at 10,000 services those would be megabytes per recompute.
 */
export function canonicallyEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!canonicallyEqual(a[i], b[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>, bo = b as Record<string, unknown>;
  // JSON leaves out undefined members; so does this comparison.
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined), bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  if (ak.length !== bk.length) return false;
  for (const k of ak) if (!Object.hasOwn(bo, k) || !canonicallyEqual(ao[k], bo[k])) return false;
  return true;
}

/** What changed between two lists, in counts (for the debug log). */
function diffCounts(before: unknown, after: readonly AvailableService[]): { services: number; added: number; removed: number; changed: number } {
  const key = (s: { mesh?: unknown; tags?: unknown; externalService?: unknown }) => `${String(s.mesh)}\u0000${canonicalJson(s.tags)}\u0000${s.externalService === true}`;
  const old = new Map<string, unknown>();
  if (Array.isArray(before)) {
    for (const s of before as unknown[]) {
      if (typeof s === 'object' && s !== null) old.set(key(s as { mesh?: unknown; tags?: unknown }), (s as { instances?: unknown }).instances);
    }
  }
  let added = 0, changed = 0;
  for (const s of after) {
    const k = key(s);
    if (!old.has(k)) added++;
    else if (old.get(k) !== s.instances) changed++;
    old.delete(k);
  }
  return { services: after.length, added, removed: old.size, changed };
}
