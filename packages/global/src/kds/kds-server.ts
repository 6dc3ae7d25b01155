import { Server, ServerCredentials, type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData, status } from '@grpc/grpc-js';
import {
  codec, ConsumerSession, ConsumerStream, createKdsMetrics, type EventBus, type FrameStream, KDS_SERVICE, kdsChannelOptions,
  type KdsDirection, type KdsMetrics, kindsWithFlow, type Logger, observeAll, type PemKeyPair, ProviderSession, ProviderStream,
  ResourceCache, type ResourceStore, serverCredentials, type StreamGuard, type Telemetry, type ZoneTokens,
} from '@meshfed/shared';
import type { ZoneInsights, ZoneInventory, ZoneSession } from '../insights/index.js';
import { type AuthenticatedZone, authenticateZone } from './zone-auth.js';
import { ZoneSyncTarget } from './zone-sync-target.js';
import { zoneView } from './zone-view.js';

export interface KdsServerOptions {
  readonly store: ResourceStore;
  readonly bus: EventBus;
  readonly log: Logger;
  readonly telemetry: Telemetry;
  readonly tokens: ZoneTokens;
  readonly inventory: ZoneInventory;
  readonly insights: ZoneInsights;
  readonly address: string;
  readonly port: number;
  /** TLS key pair; absent only with insecure set (labs). */
  readonly tls?: PemKeyPair;
  readonly maxMessageBytes: number;
  readonly ackTimeoutMs: number;
  readonly reconcileIntervalMs: number;
  readonly healthCheckIntervalMs: number;
  /** Global's: each stream watches the zone token it was opened with, and ends when that is revoked. */
  readonly guard?: StreamGuard;
}

const DOWN = kindsWithFlow('global-to-zone');
const UP = kindsWithFlow('zone-to-global');

type Duplex = ServerDuplexStream<Buffer, Buffer>;

/** One zone connection (both streams share it): its insight session and how to close its calls. */
interface Connection {
  readonly zone: AuthenticatedZone;
  readonly session: ZoneSession;
  readonly calls: Set<Duplex>;
  /** Why global ended the connection (a revoked token), for the zone's insight; unset when the zone went away. */
  endReason?: string;
}

/**
 * Global's KDS endpoint. Each zone dials it with two streams: global provides on GlobalToZoneSync and
 * consumes on ZoneToGlobalSync. Pushes are driven by the resource cache's change events; insights and
 * metrics hear about every response, ACK and NACK.
 */
export class KdsServer {
  readonly #o: KdsServerOptions;
  readonly #server: Server;
  readonly #metrics: KdsMetrics;
  readonly #connections = new Map<string, Connection>();
  readonly #authFailures;
  #cache: ResourceCache | undefined;
  #refreshTimer: NodeJS.Timeout | undefined;
  port = 0;

  constructor(options: KdsServerOptions) {
    this.#o = options;
    this.#metrics = createKdsMetrics(options.telemetry, 'global');
    this.#authFailures = options.telemetry.counter('meshfed_kds_auth_failures_total', 'KDS calls refused, by why the zone token failed');
    this.#server = new Server(kdsChannelOptions(options.maxMessageBytes));
    this.#server.addService(KDS_SERVICE, {
      GlobalToZoneSync: (call: Duplex) => void this.#globalToZone(call),
      ZoneToGlobalSync: (call: Duplex) => void this.#zoneToGlobal(call),
      HealthCheck: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => void this.#healthCheck(call, cb),
    });
  }

  async start(): Promise<void> {
    const { store, bus, log } = this.#o;
    this.#cache = await ResourceCache.build(store, bus, DOWN, log);
    // The safety net for a lost event (a NATS message between replicas): reload and push differences.
    this.#refreshTimer = setInterval(() => void this.#cache?.refresh().catch((err: Error) => log.warn({ err }, 'KDS: cache refresh failed')), this.#o.reconcileIntervalMs);
    this.#refreshTimer.unref();
    const creds = this.#o.tls ? serverCredentials(this.#o.tls) : ServerCredentials.createInsecure();
    this.port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(`${this.#o.address}:${this.#o.port}`, creds, (err, port) => (err ? reject(new Error(`cannot listen on ${this.#o.address}:${this.#o.port} for KDS: ${listenError(err)}`)) : resolve(port))),
    );
    log.info({ kdsPort: this.port, tls: this.#o.tls !== undefined }, 'KDS listening');
  }

  async stop(): Promise<void> {
    clearInterval(this.#refreshTimer);
    for (const c of this.#connections.values()) for (const call of c.calls) endWith(call, status.UNAVAILABLE, 'the global control plane is stopping');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 2000);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.#cache?.close();
  }

  /** Zones with a live connection to this replica. */
  connectedZones(): string[] {
    return [...new Set([...this.#connections.values()].map((c) => c.zone.zone))];
  }

  async #admit(call: Duplex | ServerUnaryCall<Buffer, Buffer>, direction: string): Promise<AuthenticatedZone | { code: status; reason: string }> {
    const auth = await authenticateZone(call.metadata, this.#o.tokens);
    if (!auth.ok) {
      this.#o.log.warn({ zone: auth.declared || undefined, direction, reason: auth.reason }, `KDS: refused zone: ${auth.reason}`);
      this.#authFailures.add(1, { failure: auth.failure });
      return { code: auth.code, reason: auth.reason };
    }
    const admission = await this.#o.inventory.admit(auth.zone.zone);
    if (!admission.ok) {
      this.#o.log.warn({ zone: auth.zone.zone, direction, reason: admission.reason }, `KDS: refused zone: ${admission.reason}`);
      return { code: status.PERMISSION_DENIED, reason: admission.reason };
    }
    return auth.zone;
  }

  #join(zone: AuthenticatedZone, call: Duplex): Connection {
    const key = `${zone.zone}\u0000${zone.connectionId}`;
    let c = this.#connections.get(key);
    if (!c) {
      const session = this.#o.insights.connect(zone.zone, { zoneCpVersion: zone.zoneCpVersion, streamId: zone.connectionId });
      const created: Connection = { zone, session, calls: new Set() };
      session.onOffline((e) => {
        this.#o.log.warn({ zone: zone.zone, reason: e.reason }, 'KDS: zone went silent; closing its streams');
        for (const other of created.calls) endWith(other, status.UNAVAILABLE, `zone marked offline: ${e.reason}`);
      });
      this.#connections.set(key, (c = created));
      this.#o.log.info({ zone: zone.zone, connection: zone.connectionId, zoneCpVersion: zone.zoneCpVersion }, 'KDS: zone connected');
    }
    c.calls.add(call);
    return c;
  }

  #leave(c: Connection, call: Duplex, reason: string): void {
    if (!c.calls.delete(call)) return;
    if (c.calls.size > 0) return;
    this.#connections.delete(`${c.zone.zone}\u0000${c.zone.connectionId}`);
    const why = c.endReason ?? reason;
    c.session.disconnect(why);
    this.#o.log.info({ zone: c.zone.zone, connection: c.zone.connectionId, reason: why }, 'KDS: zone disconnected');
  }

  /** Wires the end of a call, whichever way it ends, to one cleanup. */
  #onEnd(call: Duplex, direction: KdsDirection, c: Connection, zone: AuthenticatedZone, cleanup: () => void): void {
    this.#metrics.streamOpened(direction);
    let done = false;
    const unwatch = this.#o.guard?.watch(zone.credential, (reason) => {
      this.#o.log.warn({ zone: zone.zone, direction, tokenId: zone.credential.id, reason }, `KDS: ending the zone's stream: ${reason}`);
      c.endReason ??= reason;
      endWith(call, status.UNAUTHENTICATED, reason);
    });
    const finish = (reason: string) => {
      if (done) return;
      done = true;
      unwatch?.();
      cleanup();
      this.#metrics.streamClosed(direction);
      this.#leave(c, call, reason);
    };
    call.on('end', () => {
      finish('the zone closed the stream');
      call.end();
    });
    call.on('cancelled', () => finish('the stream was cancelled'));
    call.on('error', (err: Error) => finish(`stream error: ${err.message}`));
    call.on('close', () => finish('the stream closed'));
  }

  async #globalToZone(call: Duplex): Promise<void> {
    const zone = await this.#admit(call, 'global-to-zone');
    if ('code' in zone) return endWith(call, zone.code, zone.reason);
    const c = this.#join(zone, call);
    const log = this.#o.log.child({ zone: zone.zone, direction: 'global-to-zone' });
    const observer = observeAll(c.session.observer, this.#metrics);
    const session = new ProviderSession({ direction: 'global-to-zone', types: DOWN, view: zoneView(this.#cache!, zone.zone), observer, maxMessageBytes: this.#o.maxMessageBytes });
    const stream = new ProviderStream({
      stream: call as FrameStream, session, cache: this.#cache!, types: DOWN, direction: 'global-to-zone', observer, log, telemetry: this.#o.telemetry,
      ackTimeoutMs: this.#o.ackTimeoutMs, reconcileIntervalMs: this.#o.reconcileIntervalMs,
      onStall: (kind, detail) => {
        log.warn({ stall: kind, detail }, `KDS: stream to zone stalled (${detail}); restarting it`);
        this.#metrics.stalled('global-to-zone', kind);
        c.session.stalled('global-to-zone', detail);
        endWith(call, status.UNAVAILABLE, `stream stalled: ${detail}`);
      },
    });
    this.#onEnd(call, 'global-to-zone', c, zone, () => stream.stop());
    stream.start();
  }

  async #zoneToGlobal(call: Duplex): Promise<void> {
    const zone = await this.#admit(call, 'zone-to-global');
    if ('code' in zone) return endWith(call, zone.code, zone.reason);
    const c = this.#join(zone, call);
    const log = this.#o.log.child({ zone: zone.zone, direction: 'zone-to-global' });
    const stream = new ConsumerStream({
      stream: call as FrameStream, session: new ConsumerSession(UP), types: UP, target: new ZoneSyncTarget(this.#o.store, zone.zone),
      direction: 'zone-to-global', observer: observeAll(c.session.observer, this.#metrics), log, telemetry: this.#o.telemetry,
      onFatal: (reason) => {
        log.error({ reason }, 'KDS: cannot store what the zone sent; closing the stream (the zone resyncs on reconnect)');
        endWith(call, status.UNAVAILABLE, reason);
      },
    });
    this.#onEnd(call, 'zone-to-global', c, zone, () => stream.stop());
    await stream.start().catch((err: Error) => endWith(call, status.UNAVAILABLE, `cannot read the store: ${err.message}`));
  }

  async #healthCheck(call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>): Promise<void> {
    const zone = await this.#admit(call, 'health-check');
    if ('code' in zone) return cb({ code: zone.code, details: zone.reason });
    this.#o.insights.healthCheck(zone.zone);
    cb(null, codec.encodeHealthResponse({ interval_ms: this.#o.healthCheckIntervalMs }));
  }
}

/** grpc-js wraps the socket error in a summary; the socket's own words are what an operator needs. */
function listenError(err: Error): string {
  return err.message.match(/listen (E[A-Z]+: [^\]]+)/)?.[1] ?? err.message;
}

/** Ends a server call with a status the zone will log. */
function endWith(call: Duplex, code: status, details: string): void {
  try {
    call.emit('error', { code, details, metadata: undefined });
  } catch {
    /* already closed */
  }
}
