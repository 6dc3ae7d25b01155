import { type Metadata, Server, ServerCredentials, type ServerDuplexStream, status } from '@grpc/grpc-js';
import { ADS_SERVICE, adsCodec, type EnvoyNode, type Logger, ProviderSession, XDS_KINDS, type XdsKind } from '@meshfed/shared';
import { type Authenticate, type ProxyIdentity, proxyIdentityOf, refuseUntilTokens } from './auth.js';
import { changedKeys, snapshotView, XDS_WIRE, type XdsDirection } from './delta.js';
import type { AdsProtocol, ProxyInsights } from './proxy-insights.js';
import type { SnapshotCache } from './snapshot-cache.js';
import { SotwSession } from './sotw-session.js';

export interface AdsServerOptions {
  readonly cache: SnapshotCache;
  readonly insights: ProxyInsights;
  readonly log: Logger;
  /** Bind address (like --api-address) and port (--xds-port; 0 picks one). */
  readonly address: string;
  readonly port: number;
  /** Who may connect; refuses everyone (tokens are not implemented yet) when absent. */
  readonly authenticate?: Authenticate;
  /** Largest delta response; larger pushes are split. */
  readonly maxMessageBytes?: number;
}

type Duplex = ServerDuplexStream<Buffer, Buffer>;

/** A protocol's session on one stream, behind the one shape the loop needs. */
interface StreamProtocol {
  /** Handles one decoded-or-not frame; returns responses to write. */
  onFrame(frame: Buffer): Buffer[];
  /** The proxy's snapshot changed; returns responses to write. */
  onChange(...args: Parameters<Parameters<SnapshotCache['watch']>[1]>): Buffer[];
}

const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * The zone's Aggregated Discovery Service: state-of-the-world and delta ADS over one grpc-js server.
 * The first request names the proxy (node.id, node.metadata.proxyType); `authenticate` admits it under
 * a proxy id; the stream then watches that proxy in the SnapshotCache and pushes what changed. Every
 * response, ACK and NACK is recorded in ProxyInsights. The server never builds snapshots.
 */
export class AdsServer {
  readonly #o: AdsServerOptions;
  readonly #server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  readonly #calls = new Set<Duplex>();
  port = 0;

  constructor(options: AdsServerOptions) {
    this.#o = options;
    this.#server.addService(ADS_SERVICE, {
      StreamAggregatedResources: (call: Duplex) => this.#serve(call, 'sotw'),
      DeltaAggregatedResources: (call: Duplex) => this.#serve(call, 'delta'),
    });
  }

  async start(): Promise<number> {
    const { address, port } = this.#o;
    this.port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(`${address}:${port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(new Error(`cannot listen on ${address}:${port} for xDS: ${err.message}`)) : resolve(p))));
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

  #serve(call: Duplex, protocol: AdsProtocol): void {
    this.#calls.add(call);
    let started: StreamProtocol | undefined;
    let pending: Buffer[] | undefined = [];
    let cancel: (() => void) | undefined;
    let proxyId: string | undefined;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      this.#calls.delete(call);
      cancel?.();
      if (proxyId !== undefined) {
        this.#o.insights.disconnected(proxyId);
        this.#o.log.info({ proxyId, protocol }, 'xDS: proxy disconnected');
      }
    };
    const write = (out: Buffer[]) => {
      if (!closed) for (const b of out) call.write(b);
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
      if (started) return write(started.onFrame(frame));
      if (pending === undefined) return;
      pending.push(frame);
      if (pending.length > 1) return;
      void this.#admit(call, frame, protocol).then((admitted) => {
        const frames = pending ?? [];
        pending = undefined;
        if (closed) return;
        if ('code' in admitted) {
          this.#o.log.warn({ protocol, reason: admitted.reason }, 'xDS: refused a proxy');
          endWith(call, admitted.code, admitted.reason);
          close();
          return;
        }
        proxyId = admitted.proxyId;
        const id = admitted.proxyId;
        this.#o.insights.connected(id, admitted.identity.proxyType, protocol);
        this.#o.log.info({ proxyId: id, proxyType: admitted.identity.proxyType, protocol }, 'xDS: proxy connected');
        const proto = protocol === 'sotw' ? this.#sotw(id) : this.#delta(id);
        started = proto;
        cancel = this.#o.cache.watch(id, (next, previous) => write(proto.onChange(next, previous)));
        for (const f of frames) write(proto.onFrame(f));
      });
    });
  }

  async #admit(call: Duplex, first: Buffer, protocol: AdsProtocol): Promise<{ proxyId: string; identity: ProxyIdentity } | { code: status; reason: string }> {
    const decoded = protocol === 'sotw' ? adsCodec.decodeRequest(first) : adsCodec.decodeDeltaRequest(first);
    if (!decoded.ok) return { code: status.INVALID_ARGUMENT, reason: `the first request does not decode: ${decoded.error}` };
    const node: EnvoyNode | undefined = decoded.value.node;
    const identity = proxyIdentityOf(node);
    if ('error' in identity) return { code: status.INVALID_ARGUMENT, reason: identity.error };
    const authenticate = this.#o.authenticate ?? refuseUntilTokens;
    try {
      const r = await authenticate(call.metadata as Metadata, identity);
      return r.ok ? { proxyId: r.proxyId, identity } : { code: r.code, reason: r.reason };
    } catch (err) {
      return { code: status.INTERNAL, reason: `authentication failed: ${(err as Error).message}` };
    }
  }

  #sotw(proxyId: string): StreamProtocol {
    const { cache, insights, log } = this.#o;
    const session = new SotwSession({ current: () => cache.get(proxyId) });
    const record = (out: ReturnType<SotwSession['changed']>) => {
      for (const o of out) insights.sent(proxyId, o.type, { version: o.version, nonce: o.nonce, resources: o.resources });
      return out.map((o) => o.bytes);
    };
    return {
      onFrame: (frame) => {
        const req = adsCodec.decodeRequest(frame);
        if (!req.ok) {
          log.warn({ proxyId, error: req.error }, 'xDS: ignored a frame that does not decode');
          return [];
        }
        const outcome = session.handleRequest(req.value);
        if (outcome.kind === 'rejected') {
          log.warn({ proxyId, detail: outcome.detail }, 'xDS: ignored a request');
          return [];
        }
        if (outcome.kind === 'stale') return [];
        const a = outcome.answer;
        if (a?.kind === 'ack') insights.acked(proxyId, a.type, a);
        if (a?.kind === 'nack') {
          insights.nacked(proxyId, a.type, a);
          log.warn({ proxyId, type: a.type, version: a.version, error: a.error }, 'xDS: proxy refused its configuration (NACK)');
        }
        return record(outcome.out);
      },
      onChange: () => record(session.changed()),
    };
  }

  #delta(proxyId: string): StreamProtocol {
    const { cache, insights, log } = this.#o;
    const session = new ProviderSession<XdsKind, XdsDirection>({
      direction: 'cp-to-proxy',
      types: XDS_KINDS,
      view: snapshotView(() => cache.get(proxyId)),
      wire: XDS_WIRE,
      maxMessageBytes: this.#o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      observer: {
        sent: (type, _d, i) => insights.sent(proxyId, type, { version: i.version, nonce: i.nonce, resources: i.resources }),
        acked: (type, _d, i) => insights.acked(proxyId, type, i),
        nacked: (type, _d, i) => {
          insights.nacked(proxyId, type, i);
          log.warn({ proxyId, type, version: i.version, error: i.error }, 'xDS: proxy refused its configuration (NACK)');
        },
        refusedToSend: (type, _d, i) => log.error({ proxyId, type, name: i.name, error: i.error }, 'xDS: cannot send a resource'),
      },
    });
    return {
      onFrame: (frame) => {
        const req = adsCodec.decodeDeltaRequest(frame);
        if (!req.ok) {
          log.warn({ proxyId, error: req.error }, 'xDS: ignored a frame that does not decode');
          return [];
        }
        const outcome = session.handleRequest(req.value);
        if (outcome.kind === 'rejected') {
          log.warn({ proxyId, reason: outcome.reason, detail: outcome.detail }, 'xDS: ignored a request');
          return [];
        }
        return outcome.out.map((o) => o.bytes);
      },
      onChange: (next, previous) => [...changedKeys(previous, next)].flatMap(([kind, keys]) => session.changed(kind, keys)).map((o) => o.bytes),
    };
  }
}

function endWith(call: Duplex, code: status, details: string): void {
  try {
    call.emit('error', { code, details, metadata: undefined });
  } catch {
    /* already closed */
  }
}
