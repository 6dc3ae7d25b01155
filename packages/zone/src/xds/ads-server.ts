import { Server, type ServerCredentials, type ServerDuplexStream, status } from '@grpc/grpc-js';
import { ADS_SERVICE, type Logger, type StreamGuard, type Telemetry } from '@meshfed/shared';
import { admit } from './ads-admission.js';
import { LiveProxies } from './ads-live-proxies.js';
import { type AdsMetrics, type AdsRefusalReason, createAdsMetrics, NOOP_ADS_METRICS } from './ads-metrics.js';
import { AdsStream } from './ads-stream.js';
import { type Authenticate, type ProxyIdentity, refuseUntilTokens, type StreamLifecycle } from './auth.js';
import type { AdsProtocol, ProxyInsights } from './proxy-insights.js';
import type { SnapshotCache } from './snapshot-cache.js';

export interface AdsServerOptions {
  readonly cache: SnapshotCache;
  readonly insights: ProxyInsights;
  readonly log: Logger;
  /** Bind address (like --api-address) and port (--xds-port; 0 picks one). */
  readonly address: string;
  readonly port: number;
  /**
   * How the server binds: TLS (`serverCredentials` from @meshfed/shared) in the zone CP, since tokens
   * and SDS private keys cross this connection; `ServerCredentials.createInsecure()` only where nothing
   * secret does (unit tests, benchmarks, --xds-insecure). No default, so plaintext is always a choice.
   */
  readonly credentials: ServerCredentials;
  /** Who may connect; refuses everyone (tokens are not implemented yet) when absent. */
  readonly authenticate?: Authenticate;
  /** Largest delta response; larger pushes are split. */
  readonly maxMessageBytes?: number;
  /** Metrics (`meshfed_xds_*`) and `xds.push` spans; none when absent. */
  readonly telemetry?: Telemetry;
  /** A response unanswered (neither ACK nor NACK) this long is a stall: the stream is ended so the proxy redials. 30 s by default. */
  readonly ackTimeoutMs?: number;
  /** Undecodable requests in a row after which a stream is ended with INVALID_ARGUMENT; 10 by default. */
  readonly maxGarbageFrames?: number;
  /** Server keepalive pings, so a dead peer's stream closes and frees its proxy id; 30 s / 10 s by default. */
  readonly keepalive?: { readonly timeMs: number; readonly timeoutMs: number };
  /** A proxy's stream was admitted (after its watch is in place): compute its snapshot, or say why there is none. */
  readonly onProxyConnected?: (proxyId: string, identity: ProxyIdentity) => void;
  /** The stream of a proxy announced by onProxyConnected closed. */
  readonly onProxyDisconnected?: (proxyId: string) => void;
  /** Streams admitted on a token are watched here, so revoking it (or its key) ends them at once. */
  readonly guard?: StreamGuard;
}

type Duplex = ServerDuplexStream<Buffer, Buffer>;

const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
const DEFAULT_ACK_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_GARBAGE_FRAMES = 10;
const DEFAULT_KEEPALIVE = { timeMs: 30_000, timeoutMs: 10_000 };
// Envoy sends one request per type before it hears anything; more than this before admission is abuse.
const MAX_FRAMES_BEFORE_ADMISSION = 32;

/**
 * The zone's Aggregated Discovery Service: state-of-the-world and delta ADS over one grpc-js server.
 * The first request names the proxy (node.id, node.metadata.proxyType); `authenticate` admits it under
 * a proxy id, which only one live stream may hold; an AdsStream then watches that proxy in the
 * SnapshotCache and pushes what changed. The server never builds snapshots.
 */
export class AdsServer {
  readonly #o: AdsServerOptions;
  readonly #server: Server;
  readonly #calls = new Set<Duplex>();
  readonly #live = new LiveProxies();
  readonly #metrics: AdsMetrics;
  port = 0;

  constructor(options: AdsServerOptions) {
    this.#o = options;
    this.#metrics = options.telemetry ? createAdsMetrics(options.telemetry) : NOOP_ADS_METRICS;
    const keepalive = options.keepalive ?? DEFAULT_KEEPALIVE;
    this.#server = new Server({
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      // The server pings every connection; one that does not answer is closed with its streams, so a
      // proxy whose host vanished stops holding its id within timeMs + timeoutMs. grpc-js servers do
      // not police client pings (no ping strikes), so Envoy's own connection_keepalive is accepted at
      // any interval.
      'grpc.keepalive_time_ms': keepalive.timeMs,
      'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    });
    this.#server.addService(ADS_SERVICE, {
      StreamAggregatedResources: (call: Duplex) => this.#serve(call, 'sotw'),
      DeltaAggregatedResources: (call: Duplex) => this.#serve(call, 'delta'),
    });
  }

  async start(): Promise<number> {
    const { address, port } = this.#o;
    this.port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(`${address}:${port}`, this.#o.credentials, (err, p) => (err ? reject(new Error(`cannot listen on ${address}:${port} for xDS: ${err.message}`)) : resolve(p))));
    this.#o.log.info({ address, port: this.port }, 'xDS: ADS server listening');
    return this.port;
  }

  async stop(): Promise<void> {
    for (const call of this.#calls) endWith(call, status.UNAVAILABLE, 'the zone control plane is stopping');
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 2000);
      t.unref();
      this.#server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** The proxies with a live, admitted stream now. */
  connectedProxyIds(): string[] {
    return this.#live.ids();
  }

  isConnected(proxyId: string): boolean {
    return this.#live.get(proxyId) !== undefined;
  }

  #serve(call: Duplex, protocol: AdsProtocol): void {
    this.#calls.add(call);
    const { insights, log } = this.#o;
    const peer = peerOf(call);
    let stream: AdsStream | undefined;
    let held: { proxyId: string; proxyType: string; release: () => void; opened: boolean; announced: boolean; lifecycle?: StreamLifecycle } | undefined;
    let pending: Buffer[] | undefined = [];
    let closed = false;
    let expiry: NodeJS.Timeout | undefined;
    let unwatch: (() => void) | undefined;
    // Why this side ended the stream, for the proxy's insight; unset when the proxy went away.
    let endReason: string | undefined;
    const close = () => {
      if (closed) return;
      closed = true;
      if (expiry) clearTimeout(expiry);
      unwatch?.();
      this.#calls.delete(call);
      stream?.close();
      if (!held) return;
      held.release();
      insights.disconnected(held.proxyId, endReason);
      // A stream whose setup failed half-way was never counted open: the gauge must not go below.
      if (held.opened) this.#metrics.streamClosed(protocol, held.proxyType);
      log.info({ proxyId: held.proxyId, protocol, peer, ...(endReason !== undefined ? { reason: endReason } : {}) }, 'xDS: proxy disconnected');
      if (held.announced) {
        this.#callback('onProxyDisconnected', () => this.#o.onProxyDisconnected?.(held!.proxyId));
        this.#callback('lifecycle.closed', () => held!.lifecycle?.closed());
      }
    };
    const end = (code: status, reason: string) => {
      endReason ??= reason;
      endWith(call, code, reason);
      close();
    };
    const refuse = (code: status, reason: string, why: AdsRefusalReason, nodeId: string | undefined) => {
      this.#metrics.refused(why);
      log.warn({ protocol, peer, nodeId, code: status[code], reason }, 'xDS: refused a proxy');
      end(code, reason);
    };
    call.on('end', () => {
      close();
      call.end();
    });
    call.on('error', close);
    call.on('cancelled', close);
    call.on('close', close);
    call.on('data', (frame: Buffer) => {
      if (closed) return;
      if (stream) return stream.onFrame(frame);
      if (pending === undefined) return;
      pending.push(frame);
      if (pending.length > MAX_FRAMES_BEFORE_ADMISSION) {
        return refuse(status.RESOURCE_EXHAUSTED, `more than ${MAX_FRAMES_BEFORE_ADMISSION} requests before the stream was admitted`, 'other', undefined);
      }
      if (pending.length > 1) return;
      void admit(frame, protocol, call.metadata, this.#o.authenticate ?? refuseUntilTokens).then((a): void => {
        const frames = pending ?? [];
        pending = undefined;
        if (closed) return;
        if (!a.ok) return refuse(a.code, a.reason, a.why, a.nodeId);
        const since = new Date().toISOString();
        const claim = this.#live.claim(a.proxyId, { peer, since, protocol });
        if (!claim.ok) {
          const { holder } = claim;
          insights.refusedDuplicate(a.proxyId, peer);
          return refuse(status.ALREADY_EXISTS,
            `proxy "${a.proxyId}" already has a live xDS stream (${holder.protocol}) from ${holder.peer} since ${holder.since}; this stream from ${peer} is refused. `
            + 'Two proxies may not share one identity; if that stream is dead, keepalive closes it and this proxy can reconnect', 'duplicate', a.identity.nodeId);
        }
        held = { proxyId: a.proxyId, proxyType: a.identity.proxyType, release: claim.release, opened: false, announced: false, ...(a.lifecycle ? { lifecycle: a.lifecycle } : {}) };
        insights.connected(a.proxyId, a.identity.proxyType, protocol);
        this.#metrics.streamOpened(protocol, a.identity.proxyType);
        held.opened = true;
        log.info({ proxyId: a.proxyId, proxyType: a.identity.proxyType, protocol, peer }, 'xDS: proxy connected');
        stream = new AdsStream({
          proxyId: a.proxyId, protocol, cache: this.#o.cache, insights, log, metrics: this.#metrics,
          ...(this.#o.telemetry ? { telemetry: this.#o.telemetry } : {}),
          ackTimeoutMs: this.#o.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS,
          maxGarbageFrames: this.#o.maxGarbageFrames ?? DEFAULT_MAX_GARBAGE_FRAMES,
          maxMessageBytes: this.#o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
          write: (b) => void call.write(b),
          end,
        });
        stream.start(frames);
        if (closed) return;
        // A token is checked when the stream opens; the stream must not outlive it. The proxy redials
        // and presents its current token. Node's timers cap at ~24.8 days: a later expiry re-arms.
        if (a.expiresAt) {
          const proxyId = a.proxyId, at = a.expiresAt;
          const arm = () => {
            const left = at.getTime() - Date.now();
            if (left > 0) {
              expiry = setTimeout(arm, Math.min(2 ** 31 - 1, left));
              expiry.unref();
              return;
            }
            log.info({ proxyId, expiredAt: at.toISOString() }, 'xDS: the token of a proxy expired; ending its stream');
            end(status.UNAUTHENTICATED, `the token this stream was opened with expired at ${at.toISOString()}: present a valid one`);
          };
          arm();
        }
        if (a.credential && this.#o.guard) {
          const proxyId = a.proxyId, tokenId = a.credential.id;
          unwatch = this.#o.guard.watch(a.credential, (reason) => {
            log.warn({ proxyId, tokenKind: a.credential!.kind, tokenId, reason }, `xDS: ending the stream of a proxy: ${reason}`);
            end(status.UNAUTHENTICATED, reason);
          });
        }
        held.announced = true;
        this.#callback('onProxyConnected', () => this.#o.onProxyConnected?.(a.proxyId, a.identity));
        this.#callback('lifecycle.opened', () => a.lifecycle?.opened());
      }).catch((err: unknown) => {
        // A bug past admission (insights, the stream's start) must cost this stream, never the process:
        // an unhandled rejection would stop the zone CP and every proxy's stream with it.
        pending = undefined;
        log.error({ err, protocol, peer, proxyId: held?.proxyId }, 'xDS: failed to set up an admitted stream; ending it with INTERNAL');
        try {
          end(status.INTERNAL, 'the zone control plane failed to set up this stream; its log says why');
        } catch (endErr) {
          log.error({ err: endErr, protocol, peer }, 'xDS: failed to end a stream after a setup failure');
        }
      });
    });
  }

  /** Runs an owner's callback; its failure is logged, never the stream's. */
  #callback(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#o.log.error({ err, callback: name }, 'xDS: an ADS server callback failed');
    }
  }
}

function peerOf(call: Duplex): string {
  try {
    return call.getPeer();
  } catch {
    return 'unknown';
  }
}

function endWith(call: Duplex, code: status, details: string): void {
  try {
    call.emit('error', { code, details, metadata: undefined });
  } catch {
    /* already closed */
  }
}
