import { randomBytes } from 'node:crypto';
import { type ChannelCredentials, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  Backoff, clientCredentials, codec, ConsumerSession, ConsumerStream, createKdsMetrics, type EventBus, type FrameStream, KDS_METADATA,
  KdsClient, kdsChannelOptions, type KdsMetrics, kindsWithFlow, type Logger, MESHFED_VERSION, ProviderSession, ProviderStream,
  ResourceCache, type ResourceStore, type Telemetry,
} from '@meshfed/shared';
import { GlobalSyncTarget } from './global-sync-target.js';
import { classifyLinkFailure, kdsTarget, type LinkContext, type LinkFailure, linkFailure } from './link-failure.js';
import { localView } from './local-view.js';

export type KdsClientState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'stopped';

const ALLOWED: Record<KdsClientState, readonly KdsClientState[]> = {
  idle: ['connecting', 'stopped'],
  connecting: ['connected', 'backoff', 'stopped'],
  connected: ['backoff', 'stopped'],
  backoff: ['connecting', 'stopped'],
  stopped: [],
};

export interface KdsZoneClientOptions {
  readonly zone: string;
  /** grpcs://host:port (TLS) or grpc://host:port (labs). */
  readonly globalAddress: string;
  readonly token: string;
  readonly caPem?: string;
  readonly skipVerify?: boolean;
  readonly store: ResourceStore;
  readonly bus: EventBus;
  readonly log: Logger;
  readonly telemetry: Telemetry;
  readonly maxMessageBytes: number;
  readonly ackTimeoutMs: number;
  readonly reconcileIntervalMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Until global says otherwise in its first health-check answer. */
  readonly healthCheckIntervalMs?: number;
}

const DOWN = kindsWithFlow('global-to-zone');
const UP = kindsWithFlow('zone-to-global');

type Call = ReturnType<KdsClient['makeBidiStreamRequest']>;

/**
 * A zone's link to global: dials, opens both KDS streams on one connection, keeps the health check
 * going, and on any failure tears the connection down and dials again after a backoff. Resyncs are
 * cheap: each side reports what it holds, and only differences travel.
 */
export class KdsZoneClient {
  readonly #o: KdsZoneClientOptions;
  readonly #log: Logger;
  readonly #metrics: KdsMetrics;
  readonly #backoff: Backoff;
  readonly #target: GlobalSyncTarget;
  readonly #listeners = new Set<(s: KdsClientState) => void>();
  #state: KdsClientState = 'idle';
  #cache: ResourceCache | undefined;
  #client: KdsClient | undefined;
  #teardown: (() => void) | undefined;
  #retry: NodeJS.Timeout | undefined;
  #health: NodeJS.Timeout | undefined;
  #refresh: NodeJS.Timeout | undefined;
  #healthIntervalMs: number;
  #lastError: LinkFailure | undefined;
  /** The failure last told at warn/error: while it repeats, retries are logged at debug only. */
  #announced: string | undefined;

  constructor(options: KdsZoneClientOptions) {
    this.#o = options;
    // The zone and component are already on every line of the parent logger.
    this.#log = options.log.child({ subsystem: 'kds-client' });
    this.#metrics = createKdsMetrics(options.telemetry, 'zone');
    this.#backoff = new Backoff(options.backoffBaseMs, options.backoffMaxMs);
    this.#target = new GlobalSyncTarget(options.store, options.zone);
    this.#healthIntervalMs = options.healthCheckIntervalMs ?? 10_000;
  }

  get state(): KdsClientState {
    return this.#state;
  }

  /** What the zone's API shows about its link to global. */
  status() {
    return {
      globalAddress: this.#o.globalAddress, state: this.#state,
      ...(this.#lastError ? { lastError: this.#lastError.message, lastErrorCause: this.#lastError.cause } : {}),
    };
  }

  onState(listener: (s: KdsClientState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async start(): Promise<void> {
    this.#cache = await ResourceCache.build(this.#o.store, this.#o.bus, UP, this.#log);
    // The safety net for a lost event (between replicas of this zone CP): reload and push differences.
    const cache = this.#cache;
    this.#refresh = setInterval(() => void cache.refresh().catch((err: Error) => this.#log.warn({ err }, 'KDS: cache refresh failed')), this.#o.reconcileIntervalMs);
    this.#refresh.unref();
    this.#connect();
  }

  async stop(): Promise<void> {
    this.#transition('stopped', 'stopping');
    clearTimeout(this.#retry);
    clearInterval(this.#refresh);
    this.#teardown?.();
    this.#cache?.close();
  }

  #transition(to: KdsClientState, why: string): boolean {
    if (this.#state === to) return true;
    if (!ALLOWED[this.#state].includes(to)) return false;
    // Each retry passes through connecting and backoff: only the failure and recovery lines are for operators.
    this.#log[to === 'stopped' ? 'info' : 'debug']({ from: this.#state, to, why }, `KDS: ${this.#state} -> ${to}`);
    this.#state = to;
    for (const l of this.#listeners) l(to);
    return true;
  }

  #linkContext(): LinkContext {
    return { zone: this.#o.zone, globalAddress: this.#o.globalAddress, caFile: this.#o.caPem !== undefined };
  }

  /**
   * Says a failure once, at warn or error, when it first appears or changes; the same failure again
   * is only a debug line, so a zone that cannot reach global retries without flooding its log.
   */
  #announce(failure: LinkFailure, via: string, retryInMs: number): void {
    const fields = { cause: failure.cause, globalAddress: this.#o.globalAddress, retryInMs };
    if (failure.message === this.#announced) {
      this.#log.debug({ ...fields, via, attempt: this.#backoff.attempts }, 'KDS: same failure again; retrying');
      return;
    }
    this.#announced = failure.message;
    this.#log[failure.severity](fields, failure.message);
  }

  #credentials(): ChannelCredentials {
    if (!kdsTarget(this.#o.globalAddress).secure) return credentials.createInsecure();
    return clientCredentials({ ...(this.#o.caPem !== undefined ? { caPem: this.#o.caPem } : {}), ...(this.#o.skipVerify ? { skipVerify: true } : {}) });
  }

  #connect(): void {
    if (!this.#transition('connecting', 'dialling global')) return;
    const client = new KdsClient(kdsTarget(this.#o.globalAddress).hostPort, this.#credentials(), kdsChannelOptions(this.#o.maxMessageBytes));
    this.#client = client;
    const md = new Metadata();
    md.set(KDS_METADATA.authorization, `Bearer ${this.#o.token}`);
    md.set(KDS_METADATA.zone, this.#o.zone);
    md.set(KDS_METADATA.version, MESHFED_VERSION);
    md.set('x-meshfed-connection', randomBytes(6).toString('hex'));

    const calls: Call[] = [];
    const stops: (() => void)[] = [];
    let failed = false;
    const fail = (failure: LinkFailure, via: string) => {
      if (failed) return;
      failed = true;
      this.#lastError = failure;
      teardown();
      if (this.#state === 'stopped') return;
      const wait = this.#backoff.next();
      this.#announce(failure, via, wait);
      this.#transition('backoff', failure.cause);
      this.#retry = setTimeout(() => this.#connect(), wait);
      this.#retry.unref();
    };
    const teardown = () => {
      clearTimeout(this.#health);
      for (const s of stops) s();
      for (const c of calls) c.cancel();
      client.close();
      this.#teardown = undefined;
    };
    this.#teardown = teardown;
    const connected = () => {
      if (this.#state !== 'connecting') return;
      this.#backoff.reset();
      this.#lastError = undefined;
      this.#transition('connected', 'first message from global');
      const recovered = this.#announced;
      this.#announced = undefined;
      this.#log.info({ globalAddress: this.#o.globalAddress, ...(recovered ? { recoveredFrom: recovered } : {}) }, `KDS: connected to global at ${kdsTarget(this.#o.globalAddress).hostPort}`);
    };
    const grpcFailure = (err: ServiceError) => classifyLinkFailure(err, this.#linkContext());
    const watch = (call: Call, direction: string) => {
      call.on('error', (err: ServiceError) => fail(grpcFailure(err), direction));
      call.on('end', () => fail(linkFailure('stream-ended', `global at ${kdsTarget(this.#o.globalAddress).hostPort} ended the ${direction} stream`), direction));
      call.on('data', connected);
    };

    // Global → zone: global provides, this zone consumes.
    const down = client.makeBidiStreamRequest('/meshfed.kds.v1.KDSSyncService/GlobalToZoneSync', (b: Buffer) => b, (b: Buffer) => b, md) as Call;
    calls.push(down);
    watch(down, 'global-to-zone');
    const consumer = new ConsumerStream({
      stream: down as unknown as FrameStream, session: new ConsumerSession(DOWN), types: DOWN, target: this.#target, direction: 'global-to-zone',
      observer: this.#metrics, log: this.#log, telemetry: this.#o.telemetry, onFatal: (reason) => fail(linkFailure('local-store', reason), 'global-to-zone'),
    });
    stops.push(() => consumer.stop());
    this.#metrics.streamOpened('global-to-zone');
    stops.push(() => this.#metrics.streamClosed('global-to-zone'));
    void consumer.start().catch((err: Error) => fail(linkFailure('local-store', `cannot read the local store: ${err.message}`), 'global-to-zone'));

    // Zone → global: this zone provides, global consumes.
    const up = client.makeBidiStreamRequest('/meshfed.kds.v1.KDSSyncService/ZoneToGlobalSync', (b: Buffer) => b, (b: Buffer) => b, md) as Call;
    calls.push(up);
    watch(up, 'zone-to-global');
    const session = new ProviderSession({ direction: 'zone-to-global', types: UP, view: localView(this.#cache!), observer: this.#metrics, maxMessageBytes: this.#o.maxMessageBytes });
    const provider = new ProviderStream({
      stream: up as unknown as FrameStream, session, cache: this.#cache!, types: UP, direction: 'zone-to-global', observer: this.#metrics, log: this.#log,
      telemetry: this.#o.telemetry, ackTimeoutMs: this.#o.ackTimeoutMs, reconcileIntervalMs: this.#o.reconcileIntervalMs,
      onStall: (kind, detail) => {
        this.#metrics.stalled('zone-to-global', kind);
        fail(linkFailure('stalled', `stream to global stalled (${detail})`), 'zone-to-global');
      },
    });
    stops.push(() => provider.stop());
    this.#metrics.streamOpened('zone-to-global');
    stops.push(() => this.#metrics.streamClosed('zone-to-global'));
    provider.start();

    const healthCheck = () => {
      client.makeUnaryRequest('/meshfed.kds.v1.KDSSyncService/HealthCheck', (b: Buffer) => b, (b: Buffer) => b, codec.encodeHealthRequest({ zone: this.#o.zone }), md, { deadline: Date.now() + Math.max(2000, this.#healthIntervalMs) }, (err, res) => {
        if (failed) return;
        if (err) return fail(grpcFailure(err), 'health check');
        connected();
        const d = res ? codec.decodeHealthResponse(res) : undefined;
        if (d?.ok && d.value.interval_ms) this.#healthIntervalMs = Number(d.value.interval_ms);
        this.#health = setTimeout(healthCheck, this.#healthIntervalMs);
        this.#health.unref();
      });
    };
    healthCheck();
  }
}
