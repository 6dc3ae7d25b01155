import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket, connect } from 'node:net';
import { type ClientDuplexStream, credentials, type ServiceError } from '@grpc/grpc-js';
import { ADS_SERVICE, AdsClient, adsCodec, type AdsDeltaDiscoveryResponse, type AdsDiscoveryResponse, type Decoded, type Telemetry, toStruct } from '@meshfed/shared';

/** A bidi ADS stream whose responses are read in order; every wait is bounded. */
export interface TestStream<T> {
  readonly call: ClientDuplexStream<Buffer, Buffer>;
  readonly error: ServiceError | undefined;
  next(ms?: number): Promise<T>;
  /** Checks that nothing arrives for `ms`. */
  none(ms?: number): Promise<void>;
  /** The status the server ended the stream with; fails after `ms`. */
  ended(ms?: number): Promise<ServiceError>;
}

export const SOTW_PATH = ADS_SERVICE.StreamAggregatedResources!.path;
export const DELTA_PATH = ADS_SERVICE.DeltaAggregatedResources!.path;

export function openStream<T>(client: AdsClient, path: string, decode: (b: Buffer) => Decoded<T>): TestStream<T> {
  const call = client.makeBidiStreamRequest<Buffer, Buffer>(path, (b) => b, (b) => b);
  const queue: T[] = [];
  const waiters: ((v: T) => void)[] = [];
  const errorWaiters: ((e: ServiceError) => void)[] = [];
  let error: ServiceError | undefined;
  call.on('data', (b: Buffer) => {
    const d = decode(b);
    assert.ok(d.ok);
    const w = waiters.shift();
    if (w) w(d.value);
    else queue.push(d.value);
  });
  call.on('error', (e: ServiceError) => {
    error = e;
    for (const w of errorWaiters.splice(0)) w(e);
  });
  return {
    call,
    get error() {
      return error;
    },
    next(ms = 3000): Promise<T> {
      const q = queue.shift();
      if (q !== undefined) return Promise.resolve(q);
      return new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no response in ${ms} ms${error ? ` (stream ended: ${error.message})` : ''}`)), ms);
        waiters.push((v) => {
          clearTimeout(t);
          resolve(v);
        });
      });
    },
    async none(ms = 200): Promise<void> {
      await new Promise((r) => setTimeout(r, ms));
      assert.equal(queue.length, 0, `unexpected responses: ${JSON.stringify(queue.map((x) => Object.keys(x as object)))}`);
    },
    ended(ms = 3000): Promise<ServiceError> {
      if (error) return Promise.resolve(error);
      return new Promise<ServiceError>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`the stream did not end in ${ms} ms`)), ms);
        errorWaiters.push((e) => {
          clearTimeout(t);
          resolve(e);
        });
      });
    },
  };
}

export const sotwStream = (client: AdsClient) => openStream<AdsDiscoveryResponse>(client, SOTW_PATH, adsCodec.decodeResponse);
export const deltaStream = (client: AdsClient) => openStream<AdsDeltaDiscoveryResponse>(client, DELTA_PATH, adsCodec.decodeDeltaResponse);

export const nodeOf = (id: string, proxyType = 'dataplane') => ({ id, metadata: toStruct({ proxyType }) });

export function adsClient(port: number): AdsClient {
  return new AdsClient(`127.0.0.1:${port}`, credentials.createInsecure());
}

/** Waits until `cond` holds, polling briefly; fails with `what` after `ms`. */
export async function eventually(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Serves a Telemetry's Prometheus text on loopback and reads it once. */
export async function scrape(telemetry: Telemetry): Promise<string> {
  const http: HttpServer = createServer((req, res) => telemetry.serveMetrics(req, res));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/metrics`, { signal: AbortSignal.timeout(3000) });
    return await res.text();
  } finally {
    http.close();
  }
}

/** The value of the one series of `name` whose labels include all of `labels`. */
export function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.indexOf('}'));
    const got = Object.fromEntries([...body.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/**
 * A TCP relay in front of a server that can go silent: `freeze` drops everything both ways without
 * closing anything, as a peer whose host vanished (no FIN, no RST) looks to the server.
 */
export async function freezableRelay(targetPort: number): Promise<{ port: number; freeze(): void; close(): void }> {
  let frozen = false;
  const sockets = new Set<Socket>();
  const relay = createTcpServer((downstream) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
    }
    downstream.on('data', (d) => void (frozen || upstream.write(d)));
    upstream.on('data', (d) => void (frozen || downstream.write(d)));
    downstream.on('close', () => void (frozen || upstream.destroy()));
    upstream.on('close', () => void (frozen || downstream.destroy()));
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  return {
    port: (relay.address() as AddressInfo).port,
    freeze: () => (frozen = true),
    close: () => {
      for (const s of sockets) s.destroy();
      relay.close();
    },
  };
}
