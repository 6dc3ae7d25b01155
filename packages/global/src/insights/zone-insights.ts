import {
  AlreadyExistsError,
  type KdsDirection,
  type KdsObserver,
  type KdsTypeStat,
  type Logger,
  MAX_ZONE_SUBSCRIPTIONS,
  NotFoundError,
  type ResourceKind,
  type ResourceStore,
  VersionConflictError,
  type ZoneSubscription,
} from '@meshfed/shared';
import { compareSubscriptions, readZoneInsight } from './zone-overview.js';

export interface ZoneInsightsOptions {
  readonly store: ResourceStore;
  readonly log: Logger;
  /** This global replica; subscriptions are keyed by (instanceId, streamId) so replicas never overwrite each other. */
  readonly instanceId: string;
  /** Version of this global control plane, shown per subscription. */
  readonly cpVersion: string;
  /** How often zones send their unary health check. */
  readonly healthCheckIntervalMs: number;
  /** A zone is offline after this many intervals without a health check. Default 3. */
  readonly missedHealthChecks?: number;
  /** A zone's insight is written at most once per this period, besides connect/disconnect/offline. Default 1000. */
  readonly flushIntervalMs?: number;
  /** Read-modify-write attempts of one flush that loses races with other replicas. Default 8. */
  readonly writeAttempts?: number;
}

export interface ZoneConnectInfo {
  /** The version the zone control plane declared. */
  readonly zoneCpVersion: string;
  /** Unique within this replica (a stream, or a connection carrying both directions). */
  readonly streamId: string;
}

export interface ZoneOfflineEvent {
  readonly zone: string;
  readonly streamId: string;
  readonly reason: string;
}

/** What the KDS server holds per zone stream: it reports through `observer` and is told when the zone went silent. */
export interface ZoneSession {
  readonly zone: string;
  readonly streamId: string;
  /** Records per type and direction: responses sent, ACKed, NACKed, refused, applied. */
  readonly observer: KdsObserver;
  /** False once disconnected or marked offline. */
  readonly live: boolean;
  /** The zone's unary health check arrived. */
  healthCheck(): void;
  /** The stream stopped making progress and is being restarted. */
  stalled(direction: KdsDirection, reason: string): void;
  /** The stream ended; written at once. Later calls do nothing. */
  disconnect(reason?: string): void;
  /**
   * Called once when the watchdog marks this session offline (no health check within the allowed
   * intervals); the KDS server closes the zone's streams there. Returns an unsubscribe function.
   */
  onOffline(cb: (event: ZoneOfflineEvent) => void): () => void;
}

const MAX_TEXT = 1024;
const MAX_VERSION = 256;
/** Resources kept per refusal list and per NACK (the counters keep counting beyond). */
const MAX_LISTED = 10;
const STOP_FLUSH_TIMEOUT_MS = 5000;

const clip = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);
const iso = (ms: number) => new Date(ms).toISOString();
const subKey = (s: Pick<ZoneSubscription, 'globalInstanceId' | 'id'>) => `${s.globalInstanceId}\u0000${s.id}`;

function emptyStat(): KdsTypeStat {
  return { sent: 0, acked: 0, rejected: 0, refusedTotal: 0, refused: [], applied: 0, resourcesApplied: 0, removalsApplied: 0, resourcesRejected: 0 };
}

interface ZoneEntry {
  readonly zone: string;
  readonly sessions: Map<string, Session>;
  dirty: boolean;
  urgent: boolean;
  lastFlushAt: number;
  timer: NodeJS.Timeout | undefined;
  flushing: Promise<void> | undefined;
  failing: boolean;
}

/**
 * KDS insights of the zones connected to this global replica. State lives in memory and is written
 * to each zone's ZoneInsight: at once on connect, disconnect and offline, otherwise at most once per
 * flush interval per zone. Writes merge with what other replicas wrote (optimistic concurrency on
 * the resource version, bounded retries) and keep the zone's newest subscriptions only.
 */
export class ZoneInsights {
  readonly instanceId: string;
  readonly cpVersion: string;
  readonly healthCheckIntervalMs: number;
  /** No health check for this long: the zone is offline. */
  readonly offlineAfterMs: number;
  readonly flushIntervalMs: number;
  readonly #store: ResourceStore;
  readonly #log: Logger;
  readonly #attempts: number;
  readonly #zones = new Map<string, ZoneEntry>();
  #running = false;
  #stopped = false;

  constructor(options: ZoneInsightsOptions) {
    if (!(options.healthCheckIntervalMs > 0)) throw new Error('healthCheckIntervalMs must be positive');
    this.#store = options.store;
    this.#log = options.log;
    this.instanceId = options.instanceId;
    this.cpVersion = options.cpVersion;
    this.healthCheckIntervalMs = options.healthCheckIntervalMs;
    this.offlineAfterMs = (options.missedHealthChecks ?? 3) * options.healthCheckIntervalMs;
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.#attempts = Math.max(1, options.writeAttempts ?? 8);
  }

  /**
   * How long after its last health check a stored subscription still counts as online: the offline
   * timeout plus one flush interval, since health checks reach the store at most that late.
   */
  get staleAfterMs(): number {
    return this.offlineAfterMs + this.flushIntervalMs;
  }

  start(): void {
    if (this.#stopped) throw new Error('ZoneInsights was stopped');
    this.#running = true;
    for (const e of this.#zones.values()) this.#schedule(e);
  }

  /** Ends every live session ("global stopping"), writes what is pending (bounded), then stops writing. */
  async stop(reason = 'the global control plane is stopping'): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const e of this.#zones.values()) for (const s of e.sessions.values()) s.disconnect(reason);
    if (this.#running) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.#log.warn({ timeoutMs: STOP_FLUSH_TIMEOUT_MS }, 'zone insights: gave up writing the last state at stop');
          resolve();
        }, STOP_FLUSH_TIMEOUT_MS);
      });
      await Promise.race([this.flush(), timeout]);
      clearTimeout(timer);
    }
    this.#running = false;
    for (const e of this.#zones.values()) {
      clearTimeout(e.timer);
      e.timer = undefined;
    }
  }

  /** A zone's stream opened: records the subscription and writes it at once. */
  connect(zone: string, info: ZoneConnectInfo): ZoneSession {
    if (this.#stopped) throw new Error('ZoneInsights was stopped');
    let entry = this.#zones.get(zone);
    if (!entry) {
      entry = { zone, sessions: new Map(), dirty: false, urgent: false, lastFlushAt: 0, timer: undefined, flushing: undefined, failing: false };
      this.#zones.set(zone, entry);
    }
    entry.sessions.get(info.streamId)?.disconnect('superseded by a new stream with the same id');
    const e = entry;
    const session = new Session(zone, info, this, this.#log, (urgent) => this.#changed(e, urgent));
    entry.sessions.set(info.streamId, session);
    this.#changed(entry, true);
    return session;
  }

  /** The zone's health check arrived: refreshes every live session of the zone. False when it has none here. */
  healthCheck(zone: string): boolean {
    let found = false;
    for (const s of this.#zones.get(zone)?.sessions.values() ?? []) {
      if (!s.live) continue;
      s.healthCheck();
      found = true;
    }
    return found;
  }

  /** Writes every zone with unwritten changes now, and waits for writes in flight. */
  async flush(): Promise<void> {
    await Promise.all([...this.#zones.values()].map(async (e) => {
      if (e.flushing) await e.flushing;
      if (e.dirty) await this.#runFlush(e);
    }));
  }

  #changed(e: ZoneEntry, urgent: boolean): void {
    e.dirty = true;
    if (urgent) e.urgent = true;
    this.#schedule(e);
  }

  #schedule(e: ZoneEntry): void {
    if (!this.#running || !e.dirty || e.flushing) return; // a flush in flight reschedules when it ends
    const wait = e.urgent ? 0 : Math.max(0, e.lastFlushAt + this.flushIntervalMs - Date.now());
    if (e.timer) {
      if (!e.urgent) return;
      clearTimeout(e.timer);
    }
    e.timer = setTimeout(() => {
      e.timer = undefined;
      void this.#runFlush(e);
    }, wait);
    e.timer.unref();
  }

  #runFlush(e: ZoneEntry): Promise<void> {
    if (e.flushing) return e.flushing.then(() => (e.dirty ? this.#runFlush(e) : undefined));
    clearTimeout(e.timer);
    e.timer = undefined;
    e.dirty = false;
    e.urgent = false;
    e.lastFlushAt = Date.now();
    const sessions = [...e.sessions.values()];
    const ended = sessions.filter((s) => !s.live);
    const subscriptions = sessions.map((s) => s.snapshot());
    const run = this.#write(e.zone, subscriptions).then(
      () => {
        if (e.failing) this.#log.info({ zone: e.zone }, 'zone insight written again');
        e.failing = false;
        // Ended sessions change no more: once written they need not stay in memory.
        for (const s of ended) if (e.sessions.get(s.streamId) === s) e.sessions.delete(s.streamId);
      },
      (err: unknown) => {
        e.dirty = true;
        if (!e.failing) this.#log.warn({ zone: e.zone, err: (err as Error).message }, 'cannot write the zone insight; retrying every flush interval');
        e.failing = true;
      },
    ).finally(() => {
      e.flushing = undefined;
      if (e.dirty) this.#schedule(e);
      else if (e.sessions.size === 0 && !e.timer && this.#zones.get(e.zone) === e) this.#zones.delete(e.zone);
    });
    e.flushing = run;
    return run;
  }

  /** Read-modify-write of the zone's ZoneInsight: replaces this replica's entries, keeps the others'. */
  async #write(zone: string, mine: readonly ZoneSubscription[]): Promise<void> {
    const ours = new Set(mine.map(subKey));
    for (let attempt = 1; ; attempt++) {
      const current = await this.#store.get({ type: 'ZoneInsight', name: zone });
      const stored = readZoneInsight(current?.spec).subscriptions;
      const subscriptions = [...stored.filter((s) => !ours.has(subKey(s))), ...mine].sort(compareSubscriptions).slice(-MAX_ZONE_SUBSCRIPTIONS);
      try {
        await this.#store.commit([{
          op: 'put',
          resource: { type: 'ZoneInsight', name: zone, labels: current?.labels ?? {}, spec: { subscriptions } },
          expectedVersion: current ? current.version : null,
        }]);
        return;
      } catch (err) {
        const lostRace = err instanceof VersionConflictError || err instanceof AlreadyExistsError || err instanceof NotFoundError;
        if (!lostRace || attempt >= this.#attempts) throw err;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
      }
    }
  }
}

class Session implements ZoneSession {
  readonly observer: KdsObserver;
  readonly #sub: ZoneSubscription;
  readonly #owner: ZoneInsights;
  readonly #log: Logger;
  readonly #changed: (urgent: boolean) => void;
  readonly #offline = new Set<(event: ZoneOfflineEvent) => void>();
  #watchdog: NodeJS.Timeout | undefined;
  #lastSeen = Date.now();
  #live = true;
  #offlineEvent: ZoneOfflineEvent | undefined;

  constructor(readonly zone: string, info: ZoneConnectInfo, owner: ZoneInsights, log: Logger, changed: (urgent: boolean) => void) {
    this.#owner = owner;
    this.#log = log;
    this.#changed = changed;
    this.#sub = {
      id: info.streamId,
      globalInstanceId: owner.instanceId,
      connectTime: iso(this.#lastSeen),
      cpVersion: owner.cpVersion,
      zoneCpVersion: clip(info.zoneCpVersion, MAX_VERSION),
      status: { total: { sent: 0, acked: 0, rejected: 0, refused: 0 }, stat: {}, protocolErrors: {}, stalls: 0 },
    };
    this.#watchdog = setTimeout(() => this.#missed(), owner.offlineAfterMs);
    this.#watchdog.unref();
    this.observer = this.#makeObserver();
  }

  get streamId(): string {
    return this.#sub.id;
  }

  get live(): boolean {
    return this.#live;
  }

  snapshot(): ZoneSubscription {
    return structuredClone(this.#sub);
  }

  healthCheck(): void {
    if (!this.#live) return;
    this.#lastSeen = Date.now();
    this.#sub.lastHealthCheckTime = iso(this.#lastSeen);
    this.#watchdog?.refresh();
    this.#changed(false);
  }

  stalled(direction: KdsDirection, reason: string): void {
    if (!this.#live) return;
    const now = iso(Date.now());
    this.#sub.status.stalls++;
    this.#sub.status.lastStall = { direction, reason: clip(reason, MAX_TEXT), time: now };
    this.#touch(now);
  }

  disconnect(reason?: string): void {
    if (!this.#live) return;
    this.#end(reason);
  }

  onOffline(cb: (event: ZoneOfflineEvent) => void): () => void {
    const fired = this.#offlineEvent;
    if (fired) {
      queueMicrotask(() => cb(fired));
      return () => {};
    }
    this.#offline.add(cb);
    return () => this.#offline.delete(cb);
  }

  #end(reason: string | undefined): void {
    this.#live = false;
    clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    this.#sub.disconnectTime = iso(Date.now());
    if (reason !== undefined) this.#sub.disconnectReason = clip(reason, MAX_TEXT);
    this.#changed(true);
  }

  #missed(): void {
    if (!this.#live) return;
    const silentMs = Date.now() - this.#lastSeen;
    const reason = `no health check from the zone for ${silentMs} ms (offline after ${this.#owner.offlineAfterMs} ms, ${this.#owner.offlineAfterMs / this.#owner.healthCheckIntervalMs} × ${this.#owner.healthCheckIntervalMs} ms)`;
    this.#log.warn({ zone: this.zone, streamId: this.streamId, lastSeen: iso(this.#lastSeen), offlineAfterMs: this.#owner.offlineAfterMs }, `zone "${this.zone}" missed its health checks: marked offline, closing its streams`);
    this.#end(reason);
    const event: ZoneOfflineEvent = { zone: this.zone, streamId: this.streamId, reason };
    this.#offlineEvent = event;
    const callbacks = [...this.#offline];
    this.#offline.clear();
    for (const cb of callbacks) {
      try {
        cb(event);
      } catch (err) {
        this.#log.error({ zone: this.zone, err: (err as Error).message }, 'zone offline handler failed');
      }
    }
  }

  #touch(now: string): void {
    this.#sub.status.lastUpdateTime = now;
    this.#changed(false);
  }

  #stat(type: ResourceKind, direction: KdsDirection): KdsTypeStat {
    const byType = (this.#sub.status.stat[type] ??= {});
    return (byType[direction] ??= emptyStat());
  }

  #makeObserver(): KdsObserver {
    const status = this.#sub.status;
    return {
      sent: (type, direction, info) => {
        if (!this.#live) return;
        const now = iso(Date.now());
        const s = this.#stat(type, direction);
        s.sent++;
        status.total.sent++;
        s.lastSentVersion = clip(info.version, MAX_VERSION);
        s.lastSentTime = now;
        this.#touch(now);
      },
      acked: (type, direction, info) => {
        if (!this.#live) return;
        const now = iso(Date.now());
        const s = this.#stat(type, direction);
        s.acked++;
        status.total.acked++;
        s.lastAckedVersion = clip(info.version, MAX_VERSION);
        s.lastAckTime = now;
        if (Number.isFinite(info.latencyMs) && info.latencyMs >= 0) s.lastAckLatencyMs = info.latencyMs;
        this.#touch(now);
      },
      nacked: (type, direction, info) => {
        if (!this.#live) return;
        const now = iso(Date.now());
        const s = this.#stat(type, direction);
        s.rejected++;
        status.total.rejected++;
        s.lastNack = {
          version: clip(info.version, MAX_VERSION),
          error: clip(info.error, MAX_TEXT),
          time: now,
          rejected: info.rejected.slice(0, MAX_LISTED).map((r) => ({ name: clip(r.name, MAX_TEXT), version: clip(r.version, MAX_VERSION), error: clip(r.error, MAX_TEXT) })),
        };
        this.#touch(now);
      },
      refusedToSend: (type, direction, info) => {
        if (!this.#live) return;
        const now = iso(Date.now());
        const s = this.#stat(type, direction);
        s.refusedTotal++;
        status.total.refused++;
        s.refused = [...s.refused.filter((r) => r.name !== info.name), { name: clip(info.name, MAX_TEXT), version: clip(info.version, MAX_VERSION), error: clip(info.error, MAX_TEXT), time: now }].slice(-MAX_LISTED);
        this.#touch(now);
      },
      applied: (type, direction, info) => {
        if (!this.#live) return;
        const now = iso(Date.now());
        const s = this.#stat(type, direction);
        s.applied++;
        s.resourcesApplied += info.resources;
        s.removalsApplied += info.removals;
        s.resourcesRejected += info.rejected;
        s.lastAppliedTime = now;
        this.#touch(now);
      },
      protocolError: (kind, detail) => {
        if (!this.#live) return;
        const now = iso(Date.now());
        status.protocolErrors[kind] = (status.protocolErrors[kind] ?? 0) + 1;
        status.lastProtocolError = { kind, detail: clip(detail, MAX_TEXT), time: now };
        this.#touch(now);
      },
    };
  }
}
