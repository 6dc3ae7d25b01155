import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Counter, Histogram } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { isResourceKind } from '../resources/registry.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { ChangeListener, ChangeOp, EventBus, ResourceChangedEvent } from './event-bus.js';
import { InProcessEventBus } from './in-process-event-bus.js';

/** A NATS subject prefix: dot-separated tokens without wildcards or spaces. */
export const NATS_SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

const DEFAULT_MAX_PENDING_BATCHES = 1000;
const DEFAULT_MAX_PENDING_BYTES = 32 * 1024 * 1024;
const CONNECT_TIMEOUT_MS = 5000;
const RECONNECT_WAIT_MS = 1000;
const CLOSE_TIMEOUT_MS = 2000;
/** Room left under the server's max_payload for the protocol's own bytes and estimation error. */
const PAYLOAD_HEADROOM = 1024;
/** A commit needing more parts than this is dropped whole rather than flooding receivers' reassembly. */
const MAX_PARTS = 64;
/** Origins whose split batch is half-received at once; the oldest is forgotten past this. */
const MAX_PARTIAL_ORIGINS = 64;

export interface NatsEventBusOptions {
  /** nats://host:4222 (credentials in it are never logged). */
  readonly url: string;
  /** Replicas of one control plane share it; events travel on `${subjectPrefix}.events`. */
  readonly subjectPrefix?: string;
  /** Unique per process: messages carrying it as origin are this process's own and are ignored. */
  readonly instanceId: string;
  readonly log?: Logger;
  /**
   * Batches handed to the NATS client but not yet confirmed by a server round trip; past this (or
   * maxPendingBytes), further batches are dropped until the server catches up.
   */
  readonly maxPendingBatches?: number;
  readonly maxPendingBytes?: number;
  /** Cap on one message's size, below the server's max_payload (which always applies). Mostly for tests. */
  readonly maxMessageBytes?: number;
  /** When given, the counters and the propagation lag are exported as metrics too. */
  readonly telemetry?: Telemetry;
}

export interface NatsEventBusStats {
  /** Batches (commits) sent to NATS. */
  readonly published: number;
  /** Batches from other instances delivered to local subscribers. */
  readonly received: number;
  /** Batches not sent: NATS down, pending limit reached, or too large. */
  readonly dropped: number;
  /** Messages received that were not valid event batches, or parts of a batch that never completed. */
  readonly malformed: number;
  readonly connected: boolean;
}

/** One NATS message. A commit too large for one message is sent as `parts` consecutive messages. */
interface Envelope {
  readonly origin: string;
  readonly events: readonly ResourceChangedEvent[];
  readonly part?: { readonly batch: number; readonly index: number; readonly count: number };
}

interface PartialBatch {
  readonly batch: number;
  readonly count: number;
  next: number;
  readonly events: ResourceChangedEvent[];
}

/**
 * Carries committed changes between replicas of one control plane through NATS core pub/sub, and to
 * local subscribers synchronously like InProcessEventBus. Delivery across replicas is best effort:
 * publishing never throws or blocks the commit path, a batch that cannot be sent is counted as
 * dropped, and a periodic reconcile elsewhere repairs what was lost. One commit stays one batch on
 * the receiving side, even when it had to be split to fit the server's max payload.
 */
export class NatsEventBus implements EventBus {
  readonly #local: InProcessEventBus;
  readonly #subject: string;
  readonly #sub: Subscription;
  readonly #maxPendingBatches: number;
  readonly #maxPendingBytes: number;
  readonly #maxMessageBytes: number;
  readonly #metrics: { published: Counter; received: Counter; dropped: Counter; lag: Histogram } | undefined;
  readonly #partials = new Map<string, PartialBatch>();
  #connected = true;
  #published = 0;
  #received = 0;
  #dropped = 0;
  #malformed = 0;
  #pendingBatches = 0;
  #pendingBytes = 0;
  #confirming = false;
  #nextBatch = 0;
  /** Set from the first drop until a batch goes out again: drops are logged once per outage. */
  #outage: { readonly since: number; readonly reason: string; dropped: number } | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    readonly instanceId: string,
    readonly subjectPrefix: string,
    private readonly where: string,
    private readonly log: Logger | undefined,
    options: NatsEventBusOptions,
  ) {
    this.#local = new InProcessEventBus(log);
    this.#subject = `${subjectPrefix}.events`;
    this.#maxPendingBatches = Math.max(1, options.maxPendingBatches ?? DEFAULT_MAX_PENDING_BATCHES);
    this.#maxPendingBytes = Math.max(1, options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES);
    this.#maxMessageBytes = options.maxMessageBytes ?? Number.POSITIVE_INFINITY;
    const t = options.telemetry;
    this.#metrics = t && {
      published: t.counter('meshfed_event_batches_published_total', 'Event batches (commits) sent to other replicas over NATS'),
      received: t.counter('meshfed_event_batches_received_total', 'Event batches (commits) received from other replicas over NATS'),
      dropped: t.counter('meshfed_event_batches_dropped_total', 'Event batches not sent to other replicas (NATS down or backlogged)'),
      lag: t.histogram('meshfed_event_propagation_lag_seconds', 'Time from a commit on another replica to its events arriving here'),
    };
    this.#sub = nc.subscribe(this.#subject, { callback: (err, msg) => { if (!err) this.#onMessage(msg); } });
    void this.#watchStatus();
    void nc.closed().then((err) => {
      this.#connected = false;
      if (!this.#closing) {
        log?.error({ nats: where, err: err ? causeOf(err) : undefined }, 'NATS connection closed for good; events from other replicas no longer arrive');
      }
    });
  }

  /** Connects, or throws one line naming the URL and the cause. Once connected, reconnects forever. */
  static async connect(options: NatsEventBusOptions): Promise<NatsEventBus> {
    const subjectPrefix = options.subjectPrefix ?? 'meshfed';
    if (!NATS_SUBJECT_PREFIX.test(subjectPrefix)) {
      throw new Error(`invalid NATS subject prefix "${subjectPrefix}": use letters, digits, '_' and '-', in dot-separated tokens`);
    }
    const where = redactUrl(options.url);
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: options.url,
        name: `meshfed-${options.instanceId}`,
        timeout: CONNECT_TIMEOUT_MS,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: RECONNECT_WAIT_MS,
        waitOnFirstConnect: false,
        pingInterval: 10_000,
        maxPingOut: 3,
        // The server does not send our own messages back; the origin check below stays as the rule.
        noEcho: true,
      });
    } catch (err) {
      throw new Error(`cannot connect to NATS at ${where}: ${causeOf(err)}`, { cause: err });
    }
    const bus = new NatsEventBus(nc, options.instanceId, subjectPrefix, where, options.log, options);
    // The subscription is registered at the server once a round trip returns: from then on no
    // replica's event can slip past a control plane that reports itself started.
    try {
      await nc.flush();
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw new Error(`cannot subscribe to NATS at ${where}: ${causeOf(err)}`, { cause: err });
    }
    options.log?.info({ nats: where, subject: bus.#subject, instanceId: options.instanceId }, 'connected to NATS');
    return bus;
  }

  publish(events: readonly ResourceChangedEvent[]): void {
    if (events.length === 0) return;
    this.#local.publish(events);
    if (this.#closing) return;
    try {
      this.#send(events);
    } catch (err) {
      // Nothing may reach the commit path; the batch is lost to other replicas, and reconcile repairs.
      this.#drop(causeOf(err));
    }
  }

  subscribe(listener: ChangeListener): () => void {
    return this.#local.subscribe(listener);
  }

  /** Sends what is pending (for a bounded time), then closes. Safe to call more than once. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#partials.clear();
      try {
        if (!this.nc.isClosed()) {
          const drained = this.nc.drain().catch(() => undefined);
          let timer: NodeJS.Timeout | undefined;
          const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS)));
          const r = await Promise.race([drained, timedOut]);
          clearTimeout(timer);
          if (r === 'timeout') await this.nc.close().catch(() => undefined);
        }
      } finally {
        await this.#local.close();
      }
    })();
    return this.#closing;
  }

  /** Resolves once the server has seen everything published so far; rejects when NATS is down. */
  async flush(): Promise<void> {
    await this.nc.flush();
  }

  stats(): NatsEventBusStats {
    return { published: this.#published, received: this.#received, dropped: this.#dropped, malformed: this.#malformed, connected: this.#connected && !this.nc.isClosed() };
  }

  #send(events: readonly ResourceChangedEvent[]): void {
    if (!this.#connected || this.nc.isClosed()) {
      this.#drop('NATS connection is down');
      return;
    }
    const messages = this.#encode(events);
    if (!messages) {
      this.#drop(`commit of ${events.length} events is too large for ${MAX_PARTS} NATS messages`);
      return;
    }
    const bytes = messages.reduce((n, m) => n + m.length, 0);
    if (this.#pendingBatches + 1 > this.#maxPendingBatches || this.#pendingBytes + bytes > this.#maxPendingBytes) {
      this.#drop(`NATS is not keeping up (${this.#pendingBatches} batches, ${this.#pendingBytes} bytes unconfirmed)`);
      return;
    }
    for (const m of messages) this.nc.publish(this.#subject, m);
    this.#pendingBatches += 1;
    this.#pendingBytes += bytes;
    this.#published += 1;
    this.#metrics?.published.add(1);
    if (this.#outage) {
      this.log?.info({ dropped: this.#outage.dropped, outageMs: Date.now() - this.#outage.since }, 'publishing events to NATS again');
      this.#outage = undefined;
    }
    this.#confirm();
  }

  /** One round trip at a time confirms that everything published before it has left this process. */
  #confirm(): void {
    if (this.#confirming || this.#pendingBatches === 0 || this.nc.isClosed()) return;
    this.#confirming = true;
    const batches = this.#pendingBatches;
    const bytes = this.#pendingBytes;
    // A failed flush means the connection dropped and the client discarded its buffer: either way
    // those batches no longer occupy memory.
    const settle = () => {
      this.#pendingBatches = Math.max(0, this.#pendingBatches - batches);
      this.#pendingBytes = Math.max(0, this.#pendingBytes - bytes);
      this.#confirming = false;
      this.#confirm();
    };
    this.nc.flush().then(settle, settle);
  }

  /** The batch as one message, or split into parts that each fit; undefined when it cannot fit in MAX_PARTS. */
  #encode(events: readonly ResourceChangedEvent[]): Uint8Array[] | undefined {
    const limit = Math.min(this.nc.info?.max_payload ?? 1024 * 1024, this.#maxMessageBytes) - PAYLOAD_HEADROOM;
    const whole = Buffer.from(JSON.stringify({ origin: this.instanceId, events } satisfies Envelope));
    if (whole.length <= limit) return [whole];
    const chunks: ResourceChangedEvent[][] = [];
    let chunk: ResourceChangedEvent[] = [];
    let size = 0;
    for (const e of events) {
      const n = Buffer.byteLength(JSON.stringify(e)) + 1;
      if (n > limit) return undefined;
      if (chunk.length > 0 && size + n > limit) {
        chunks.push(chunk);
        chunk = [];
        size = 0;
      }
      chunk.push(e);
      size += n;
    }
    chunks.push(chunk);
    if (chunks.length > MAX_PARTS) return undefined;
    const batch = this.#nextBatch++;
    return chunks.map((c, index) => Buffer.from(JSON.stringify({ origin: this.instanceId, events: c, part: { batch, index, count: chunks.length } } satisfies Envelope)));
  }

  #drop(reason: string): void {
    this.#dropped += 1;
    this.#metrics?.dropped.add(1);
    if (this.#outage) {
      this.#outage.dropped += 1;
      return;
    }
    this.#outage = { since: Date.now(), reason, dropped: 1 };
    this.log?.warn({ nats: this.where, reason }, 'cannot publish events to NATS; dropping batches until it recovers (other replicas catch up on reconcile)');
  }

  #onMessage(msg: Msg): void {
    let envelope: Envelope;
    try {
      const parsed: unknown = JSON.parse(msg.string());
      if (!isEnvelope(parsed)) throw new Error('not an event batch');
      envelope = parsed;
    } catch (err) {
      this.#malformedMessage(causeOf(err));
      return;
    }
    if (envelope.origin === this.instanceId) return;
    if (!envelope.part) {
      this.#deliver(envelope.origin, envelope.events);
      return;
    }
    const { batch, index, count } = envelope.part;
    let partial = this.#partials.get(envelope.origin);
    if (index === 0) {
      if (partial) this.#malformedMessage('a split batch never completed');
      partial = { batch, count, next: 0, events: [] };
      this.#partials.delete(envelope.origin);
      this.#partials.set(envelope.origin, partial);
      if (this.#partials.size > MAX_PARTIAL_ORIGINS) {
        const oldest = this.#partials.keys().next().value;
        if (oldest !== undefined) this.#partials.delete(oldest);
      }
    }
    if (!partial || partial.batch !== batch || partial.next !== index || partial.count !== count) {
      // A part went missing (an outage mid-batch): the rest of that batch is useless.
      if (partial) this.#partials.delete(envelope.origin);
      this.#malformedMessage('a part of a split batch is missing');
      return;
    }
    partial.events.push(...envelope.events);
    partial.next += 1;
    if (partial.next === count) {
      this.#partials.delete(envelope.origin);
      this.#deliver(envelope.origin, partial.events);
    }
  }

  #deliver(origin: string, events: readonly ResourceChangedEvent[]): void {
    if (events.length === 0) return;
    this.#received += 1;
    const lagMs = Math.max(0, Date.now() - events[0]!.at);
    this.#metrics?.received.add(1);
    this.#metrics?.lag.record(lagMs / 1000);
    this.log?.debug({ origin, count: events.length, lagMs }, 'remote events');
    this.#local.publish(events);
  }

  #malformedMessage(reason: string): void {
    this.#malformed += 1;
    // The first one says what is wrong; the count is in stats(). A noisy publisher cannot flood the log.
    if (this.#malformed === 1) this.log?.warn({ subject: this.#subject, reason }, 'ignoring a malformed message on the NATS event subject');
  }

  async #watchStatus(): Promise<void> {
    try {
      for await (const s of this.nc.status()) {
        if (s.type === 'disconnect') {
          this.#connected = false;
          if (!this.#closing) this.log?.warn({ nats: this.where }, 'NATS connection lost; reconnecting');
        } else if (s.type === 'reconnect') {
          this.#connected = true;
          this.log?.info({ nats: this.where }, 'NATS connection restored');
        } else if (s.type === 'close') {
          this.#connected = false;
        }
      }
    } catch {
      /* the iterator ends with the connection */
    }
  }
}

/** `cannot connect …: CONNECTION_REFUSED`: a system error code, or the client's message as one token. */
function causeOf(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: unknown };
  if (typeof e?.code === 'string' && /^[A-Z0-9_]+$/.test(e.code)) return e.code;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const oneLine = message.replace(/\s+/g, ' ').trim();
  if (/^[a-z ]{1,40}$/i.test(oneLine)) return oneLine.toUpperCase().replace(/ /g, '_');
  return oneLine || 'UNKNOWN';
}

/** The URL as it may be logged: user and password replaced. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = u.username ? '***' : '';
      u.password = u.password ? '***' : '';
    }
    return u.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

const OPS: ReadonlySet<ChangeOp> = new Set(['create', 'update', 'delete']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isEvent(v: unknown): v is ResourceChangedEvent {
  if (!isRecord(v)) return false;
  return (
    typeof v.op === 'string' && OPS.has(v.op as ChangeOp) &&
    typeof v.type === 'string' && isResourceKind(v.type) && typeof v.name === 'string' && typeof v.version === 'string' &&
    (v.mesh === undefined || typeof v.mesh === 'string') &&
    typeof v.at === 'number' &&
    isRecord(v.labels) && Object.values(v.labels).every((l) => typeof l === 'string')
  );
}

function isEnvelope(v: unknown): v is Envelope {
  if (!isRecord(v) || typeof v.origin !== 'string' || !Array.isArray(v.events) || !v.events.every(isEvent)) return false;
  if (v.part === undefined) return true;
  const p = v.part;
  return (
    isRecord(p) && Number.isSafeInteger(p.batch) && Number.isSafeInteger(p.index) && Number.isSafeInteger(p.count) &&
    (p.count as number) > 0 && (p.count as number) <= MAX_PARTS && (p.index as number) >= 0 && (p.index as number) < (p.count as number)
  );
}
