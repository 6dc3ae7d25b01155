import type { ResourceKind } from '../resources/registry.js';
import type { Logger } from '../telemetry/logger.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { FrameStream } from './frame-stream.js';
import type { KdsDirection, KdsObserver } from './observer.js';
import { codec } from './proto.js';
import type { Outbound, ProviderSession } from './provider-session.js';
import type { ResourceCache } from './resource-cache.js';

export interface ProviderStreamOptions {
  readonly stream: FrameStream;
  readonly session: ProviderSession;
  readonly cache: ResourceCache;
  readonly types: readonly ResourceKind[];
  readonly direction: KdsDirection;
  readonly observer: KdsObserver;
  readonly log: Logger;
  readonly telemetry?: Telemetry;
  /** A response un-ACKed, or a write that cannot drain, for this long is a stall. */
  readonly ackTimeoutMs: number;
  /** The safety net: compare everything this often, in case an event was lost. */
  readonly reconcileIntervalMs: number;
  /** Called once when the stream stalls; the owner reports it and restarts the stream. */
  readonly onStall: (kind: 'ack-timeout' | 'send-blocked', detail: string) => void;
}

/**
 * Runs a ProviderSession on a live stream: requests in, responses out, cache changes pushed at once
 * when the type is idle. Nothing here polls: timers only check for stalls and run the reconcile net.
 */
export class ProviderStream {
  readonly #o: ProviderStreamOptions;
  readonly #types: ReadonlySet<ResourceKind>;
  #blockedSince: number | undefined;
  #timers: NodeJS.Timeout[] = [];
  #unsubscribe: (() => void) | undefined;
  #stopped = false;

  constructor(options: ProviderStreamOptions) {
    this.#o = options;
    this.#types = new Set(options.types);
  }

  start(): void {
    const { stream, session, cache } = this.#o;
    this.#unsubscribe = cache.onChange((type, keys) => {
      if (this.#types.has(type)) this.#send(session.changed(type, keys));
    });
    stream.on('data', (frame: Buffer) => this.#onFrame(frame));
    stream.on('drain', () => (this.#blockedSince = undefined));
    const checkEvery = Math.max(50, Math.min(1000, Math.floor(this.#o.ackTimeoutMs / 4)));
    this.#timers.push(setInterval(() => this.#checkStall(), checkEvery));
    this.#timers.push(setInterval(() => this.#send(session.reconcile()), this.#o.reconcileIntervalMs));
    for (const t of this.#timers) t.unref();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unsubscribe?.();
    for (const t of this.#timers) clearInterval(t);
  }

  #onFrame(frame: Buffer): void {
    const req = codec.decodeRequest(frame);
    if (!req.ok) {
      this.#o.observer.protocolError('garbage', req.error);
      this.#o.log.warn({ direction: this.#o.direction, error: req.error }, 'KDS: ignored a frame that does not decode');
      return;
    }
    const outcome = this.#o.session.handleRequest(req.value);
    if (outcome.kind === 'rejected') {
      this.#o.observer.protocolError(outcome.reason, outcome.detail);
      this.#o.log.warn({ direction: this.#o.direction, reason: outcome.reason, detail: outcome.detail }, 'KDS: ignored a request');
      return;
    }
    if (req.value.error_detail) {
      this.#o.log.warn({ direction: this.#o.direction, type: req.value.type_url, error: req.value.error_detail.message }, 'KDS: peer refused resources (NACK)');
    }
    this.#send(outcome.out);
  }

  #send(out: readonly Outbound[]): void {
    if (this.#stopped || out.length === 0) return;
    for (const o of out) {
      const span = this.#o.telemetry?.tracer.startSpan('kds.push', { attributes: { 'meshfed.kds.type': o.type, 'meshfed.kds.direction': this.#o.direction, 'meshfed.kds.bytes': o.bytes.length } });
      // The session sends again only after an ACK, so what grpc buffers past a full window is bounded.
      if (!this.#o.stream.write(o.bytes) && this.#blockedSince === undefined) this.#blockedSince = Date.now();
      span?.end();
    }
  }

  #checkStall(): void {
    if (this.#stopped) return;
    const now = Date.now();
    const oldest = this.#o.session.oldestUnacked();
    let stall: ['ack-timeout' | 'send-blocked', string] | undefined;
    if (oldest && now - oldest.sentAt > this.#o.ackTimeoutMs) stall = ['ack-timeout', `${oldest.type} response un-ACKed for ${now - oldest.sentAt} ms`];
    else if (this.#blockedSince !== undefined && now - this.#blockedSince > this.#o.ackTimeoutMs) stall = ['send-blocked', `send blocked for ${now - this.#blockedSince} ms`];
    if (stall) {
      this.stop();
      this.#o.onStall(...stall);
    }
  }
}
