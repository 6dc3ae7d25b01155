import type { ResourceKind } from '../resources/registry.js';
import type { Logger } from '../telemetry/logger.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { ConsumerSession, Rejected, ResponsePlan } from './consumer-session.js';
import type { FrameStream } from './frame-stream.js';
import type { KdsDirection, KdsObserver } from './observer.js';

/** What applying one response did: refused resources go back in the NACK. */
export interface ApplyResult {
  readonly rejected: readonly Rejected[];
  /** Types to subscribe again: something they needed (a mesh) has just arrived. */
  readonly resubscribe?: readonly ResourceKind[];
}

/** The local side of a sync: what the store holds from the peer, and how to apply one response. */
export interface SyncTarget {
  initialVersions(type: ResourceKind): Promise<ReadonlyMap<string, string>>;
  /** Applies one response in one store transaction; throws only when the store cannot be written. */
  apply(plan: ResponsePlan): Promise<ApplyResult>;
}

export interface ConsumerStreamOptions {
  readonly stream: FrameStream;
  readonly session: ConsumerSession;
  readonly types: readonly ResourceKind[];
  readonly target: SyncTarget;
  readonly direction: KdsDirection;
  readonly observer: KdsObserver;
  readonly log: Logger;
  readonly telemetry?: Telemetry;
  /** The store failed: the owner closes the stream; the next connection resyncs from the store. */
  readonly onFatal: (reason: string) => void;
}

/**
 * Runs a ConsumerSession on a live stream: subscribes to each type with what the store already
 * holds, then applies responses one at a time, in arrival order, each in one transaction, and
 * answers each with an ACK or a NACK naming the refused resources.
 */
export class ConsumerStream {
  readonly #o: ConsumerStreamOptions;
  #chain: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: ConsumerStreamOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    this.#o.stream.on('data', (frame: Buffer) => {
      this.#chain = this.#chain.then(() => this.#onFrame(frame));
    });
    await this.#subscribe(this.#o.types);
  }

  stop(): void {
    this.#stopped = true;
  }

  async #subscribe(types: readonly ResourceKind[]): Promise<void> {
    for (const type of types) {
      const initial = await this.#o.target.initialVersions(type);
      if (this.#stopped) return;
      this.#o.stream.write(this.#o.session.subscribe(type, initial));
    }
  }

  async #onFrame(frame: Buffer): Promise<void> {
    if (this.#stopped) return;
    const { session, observer, direction, log } = this.#o;
    const outcome = session.open(frame);
    if (outcome.kind === 'rejected') {
      observer.protocolError(outcome.reason, outcome.detail);
      log.warn({ direction, reason: outcome.reason, detail: outcome.detail }, 'KDS: ignored a response');
      return;
    }
    const { plan } = outcome;
    const span = this.#o.telemetry?.tracer.startSpan('kds.apply', { attributes: { 'meshfed.kds.type': plan.type, 'meshfed.kds.direction': direction, 'meshfed.kds.resources': plan.upserts.length, 'meshfed.kds.removals': plan.removals.length } });
    let result: ApplyResult;
    try {
      result = await this.#o.target.apply(plan);
    } catch (err) {
      span?.end();
      this.#stopped = true;
      this.#o.onFatal(`cannot apply ${plan.type}: ${(err as Error).message}`);
      return;
    }
    span?.end();
    if (this.#stopped) return;
    const rejected = [...plan.unreadable, ...result.rejected];
    for (const r of rejected) {
      observer.protocolError('invalid-resource', `${plan.type} ${r.name}: ${r.error}`);
      log.warn({ direction, type: plan.type, resource: r.name, error: r.error }, 'KDS: refused a resource');
    }
    const now = Date.now();
    const lags = plan.upserts.map((u) => (u.modifiedAtMs ? now - u.modifiedAtMs : undefined)).filter((x): x is number => x !== undefined);
    observer.applied(plan.type, direction, {
      resources: plan.upserts.length - result.rejected.length, removals: plan.removals.length, rejected: rejected.length,
      ...(lags.length > 0 ? { lagMs: Math.max(...lags) } : {}),
    });
    this.#o.stream.write(session.answer(plan.type, plan.nonce, rejected));
    if (result.resubscribe && result.resubscribe.length > 0) await this.#subscribe(result.resubscribe);
  }
}
