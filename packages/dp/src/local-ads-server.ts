import { lstat, rm } from 'node:fs/promises';
import { Server, ServerCredentials, type ServerDuplexStream, status } from '@grpc/grpc-js';
import { ADS_SERVICE, adsCodec, type AdsDiscoveryRequest, type Logger } from '@meshfed/shared';
import type { AdsRelay, AppSink } from './ads-relay.js';

type Duplex = ServerDuplexStream<Buffer, Buffer>;

export interface LocalAdsServerOptions {
  /** --xds-listen: host:port or unix:/path. */
  readonly listen: string;
  readonly relay: AdsRelay;
  /** Sends a request on the upstream stream (dropped while it is down: the next stream replays). */
  readonly upstream: (req: AdsDiscoveryRequest) => void;
  readonly log: Logger;
}

/** A wildcard bind is not an address to dial: the app, beside the agent, dials loopback. */
function dialable(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '[::]') return '[::1]';
  return host;
}

function endWith(call: Duplex, code: status, details: string): void {
  try {
    call.emit('error', { code, details, metadata: undefined });
  } catch {
    /* already closed */
  }
}

/**
 * The ADS server the proxyless app dials (plaintext, on loopback or a unix socket): one SotW stream
 * at a time, multiplexed by the relay onto the agent's stream to the zone.
 */
export class LocalAdsServer {
  readonly #o: LocalAdsServerOptions;
  readonly #server = new Server({ 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  readonly #calls = new Set<Duplex>();
  /** What the app dials, and what the bootstrap names: `127.0.0.1:port` or `unix:/path`. */
  serverUri = '';

  constructor(o: LocalAdsServerOptions) {
    this.#o = o;
    this.#server.addService(ADS_SERVICE, {
      StreamAggregatedResources: (call: Duplex) => this.#serve(call),
      DeltaAggregatedResources: (call: Duplex) =>
        endWith(call, status.UNIMPLEMENTED, 'meshfed-dp serves state-of-the-world ADS only (StreamAggregatedResources), as grpc-js-xds speaks it; delta ADS is not relayed'),
    });
  }

  async start(): Promise<string> {
    const { listen } = this.#o;
    // A socket file left by an agent that was killed would make the bind fail; anything else at that
    // path is not ours to remove, and the bind then says why.
    if (listen.startsWith('unix:')) {
      const path = listen.slice('unix:'.length);
      if ((await lstat(path).catch(() => undefined))?.isSocket()) await rm(path, { force: true });
    }
    const port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(listen, ServerCredentials.createInsecure(), (err, p) => (err ? reject(new Error(`cannot listen on --xds-listen ${listen}: ${err.message}`)) : resolve(p))));
    this.serverUri = listen.startsWith('unix:') ? listen : `${dialable(listen.slice(0, listen.lastIndexOf(':')))}:${port}`;
    this.#o.log.info({ serverUri: this.serverUri }, 'local ADS server for the app listening');
    return this.serverUri;
  }

  async stop(): Promise<void> {
    for (const call of this.#calls) endWith(call, status.UNAVAILABLE, 'meshfed-dp is stopping');
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 500);
      this.#server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  #serve(call: Duplex): void {
    const { relay, log } = this.#o;
    const sink: AppSink = { write: (frame) => void call.write(frame) };
    if (!relay.appOpened(sink)) {
      endWith(call, status.ALREADY_EXISTS, 'meshfed-dp relays one app stream at a time and one is connected: one agent per app');
      return;
    }
    this.#calls.add(call);
    log.info('app connected to the local ADS server');
    let open = true;
    const close = (why: string) => {
      if (!open) return;
      open = false;
      this.#calls.delete(call);
      for (const req of relay.appClosed(sink)) this.#o.upstream(req);
      log.info({ why }, 'app stream ended');
    };
    call.on('data', (frame: Buffer) => {
      const decoded = adsCodec.decodeRequest(frame);
      if (!decoded.ok) {
        endWith(call, status.INVALID_ARGUMENT, `a request frame does not decode as an Envoy DiscoveryRequest: ${decoded.error}`);
        close('bad frame');
        return;
      }
      const out = relay.appRequest(decoded.value);
      if (out) this.#o.upstream(out);
    });
    call.on('end', () => {
      call.end();
      close('the app closed it');
    });
    call.on('cancelled', () => close('cancelled'));
    call.on('error', () => close('error'));
    call.on('close', () => close('closed'));
  }
}
