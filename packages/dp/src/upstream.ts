import { type ChannelCredentials, type ClientDuplexStream, Metadata, type ServiceError } from '@grpc/grpc-js';
import { ADS_SERVICE, AdsClient, adsCodec, type AdsDiscoveryRequest, type AdsDiscoveryResponse, type Logger } from '@meshfed/shared';
import { Backoff } from './backoff.js';

export type UpstreamState = 'idle' | 'connecting' | 'open' | 'backoff' | 'stopped';

/** Which state may follow which; anything else is a bug, logged as such. */
const ALLOWED: Record<UpstreamState, readonly UpstreamState[]> = {
  idle: ['connecting', 'stopped'],
  connecting: ['open', 'backoff', 'stopped'],
  open: ['backoff', 'stopped'],
  backoff: ['connecting', 'stopped'],
  stopped: [],
};

export interface UpstreamOptions {
  /** host:port of the zone's ADS server. */
  readonly address: string;
  readonly credentials: ChannelCredentials;
  /** Sent as `authorization: Bearer …`; never logged. */
  readonly token?: string;
  readonly log: Logger;
  /** The first requests of every new stream (node and subscriptions), in order. */
  readonly opened: () => AdsDiscoveryRequest[];
  readonly response: (res: AdsDiscoveryResponse, frame: Buffer) => void;
  readonly closed: () => void;
  readonly backoff?: Backoff;
}

/**
 * The agent's one SotW ADS stream to the zone, redialled with backoff (100 ms doubling to 5 s) when
 * it breaks, for as long as the agent runs. The backoff resets on the first response of a stream.
 */
export class Upstream {
  readonly #o: UpstreamOptions;
  readonly #client: AdsClient;
  readonly #backoff: Backoff;
  #state: UpstreamState = 'idle';
  #call: ClientDuplexStream<Buffer, Buffer> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastProblem = '';

  constructor(o: UpstreamOptions) {
    this.#o = o;
    this.#backoff = o.backoff ?? new Backoff();
    this.#client = new AdsClient(o.address, o.credentials, {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      // Keepalive notices a zone that vanished without closing the connection.
      'grpc.keepalive_time_ms': 20_000,
      'grpc.keepalive_timeout_ms': 10_000,
    });
  }

  get state(): UpstreamState {
    return this.#state;
  }

  start(): void {
    this.#dial();
  }

  send(req: AdsDiscoveryRequest): void {
    if (this.#state === 'open' || this.#state === 'connecting') this.#call?.write(adsCodec.encodeRequest(req));
  }

  /**
   * Ends the stream by half-closing it, which the zone sees as the proxy leaving (it deregisters the
   * workload), then closes the channel. Bounded: a zone that does not answer is cut off after `graceMs`.
   */
  async stop(graceMs = 700): Promise<void> {
    clearTimeout(this.#timer);
    const call = this.#call;
    this.#to('stopped');
    if (call) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          call.cancel();
          resolve();
        }, graceMs);
        call.once('status', () => {
          clearTimeout(t);
          resolve();
        });
        call.end();
      });
    }
    this.#client.close();
  }

  #to(next: UpstreamState): boolean {
    if (this.#state === next) return true;
    if (!ALLOWED[this.#state].includes(next)) {
      this.#o.log.error({ from: this.#state, to: next }, 'upstream: transition not allowed (a bug), ignored');
      return false;
    }
    this.#o.log.debug(`upstream: ${this.#state} -> ${next}`);
    this.#state = next;
    return true;
  }

  #dial(): void {
    if (!this.#to('connecting')) return;
    const md = new Metadata();
    if (this.#o.token !== undefined) md.set('authorization', `Bearer ${this.#o.token}`);
    const call = this.#client.makeBidiStreamRequest<Buffer, Buffer>(ADS_SERVICE.StreamAggregatedResources!.path, (b) => b, (b) => b, md);
    this.#call = call;
    let first = true;
    call.on('data', (frame: Buffer) => {
      if (this.#call !== call) return;
      const decoded = adsCodec.decodeResponse(frame);
      if (!decoded.ok) {
        this.#o.log.warn({ err: decoded.error }, 'upstream: a response frame does not decode, ignored');
        return;
      }
      if (first) {
        first = false;
        this.#backoff.reset();
        if (this.#to('open')) {
          if (this.#lastProblem !== '') this.#o.log.info('upstream: ADS stream to the zone is back');
          else this.#o.log.info({ address: this.#o.address }, 'upstream: ADS stream to the zone open');
          this.#lastProblem = '';
        }
      }
      this.#o.response(decoded.value, frame);
    });
    // 'error' carries the status for a failed call; 'status' comes for every end, errors included.
    call.on('error', () => undefined);
    call.on('status', (s: { code: number; details: string }) => this.#ended(call, s));
    for (const req of this.#o.opened()) call.write(adsCodec.encodeRequest(req));
  }

  #ended(call: ClientDuplexStream<Buffer, Buffer>, s: Pick<ServiceError, 'code' | 'details'>): void {
    if (this.#call !== call || this.#state === 'stopped') return;
    this.#call = undefined;
    call.cancel();
    this.#o.closed();
    const problem = `${s.code === 0 ? 'ended by the zone' : `status ${s.code}`}: ${s.details}`;
    const wait = this.#backoff.next();
    if (problem !== this.#lastProblem) this.#o.log.warn({ problem, retryInMs: wait }, 'upstream: ADS stream to the zone broke, redialling with backoff');
    this.#lastProblem = problem;
    if (!this.#to('backoff')) return;
    this.#timer = setTimeout(() => this.#dial(), wait);
  }
}
