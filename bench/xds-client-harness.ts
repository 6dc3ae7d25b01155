// The proxies of `npm run bench -- xds`, in their own process: one delta ADS stream
// (DeltaAggregatedResources) per proxy, multiplexed over one grpc-js channel (its own HTTP/2
// connection) per 500 streams. Each stream behaves like Envoy's delta ADS client: CDS and LDS by
// wildcard, SDS for the mesh's two secrets, EDS for the clusters it was sent; it ACKs every response
// and keeps what it holds (type, name, version). Every response is stamped on arrival.
//
// After `arm`, the bench says what to wait for (`expect`): per proxy the digest of what it must end up
// holding (meshfed) or the number of responses it must receive (the baseline); the answer comes when
// every such stream got there, with the arrival time of the response that completed the last one.
import { type ClientDuplexStream, credentials } from '@grpc/grpc-js';
import {
  ADS_SERVICE, AdsClient, adsCodec, identityCertSecretName, meshCaSecretName, toStruct, XDS_TYPE_URL,
} from '@meshfed/shared';
import { H2GrpcChannel, type BidiStream } from './xds-h2-client.js';
import { checkClientWire, decodeLeanDeltaResponse, encodeAck, HeldDigest } from './xds-client-wire.js';
import { fail, send, serveBench, wall } from './xds-proc.js';
import { MESH, proxies } from './xds-topology.js';

export interface ClientHarnessConfig {
  /** Dataplanes of the topology (see proxies()), and whether this zone's ingress is one more stream. */
  readonly n: number;
  readonly localIngress: boolean;
  readonly streamsPerChannel: number;
}

export interface ExpectArgs {
  readonly mode: 'digest' | 'count';
  readonly map: Readonly<Record<string, string | number>>;
  readonly timeoutMs: number;
}

export interface ExpectResult {
  readonly expected: number;
  readonly converged: number;
  /** Expected streams that needed no response (their state already matched). */
  readonly unchanged: number;
  /** Latest arrival that completed an expected stream (wall clock of this process); 0 if none. */
  readonly last: number;
  /** Streams that received something since `arm` without being expected to. */
  readonly extraStreams: number;
  readonly frames: number;
  readonly bytes: number;
  /** Since `arm`, per expected dataplane stream: bytes and responses received (sorted ascending). */
  readonly dpBytes: number[];
  readonly dpFrames: number[];
  readonly ingressBytes?: number;
  readonly errors: number;
  readonly firstError?: string;
  /** Ids of expected streams that did not converge (at most 5). */
  readonly missing: string[];
}

const DELTA = ADS_SERVICE.DeltaAggregatedResources!.path;
const CDS = XDS_TYPE_URL.cluster;
const EDS = XDS_TYPE_URL.endpoint;
const LDS = XDS_TYPE_URL.listener;
const SDS = XDS_TYPE_URL.secret;
const pass = (b: Buffer) => b;
const ENVOY_WINDOW_BYTES = 256 * 1024 * 1024;
/** The streams' gRPC client: node:http2 directly (default), or grpc-js's (BENCH_XDS_CLIENT_IMPL=grpc-js), to compare. */
const CLIENT_IMPL = process.env.BENCH_XDS_CLIENT_IMPL === 'grpc-js' ? 'grpc-js' : 'h2';

interface Stream {
  readonly id: string;
  readonly type: 'dataplane' | 'ingress';
  call?: ClientDuplexStream<Buffer, Buffer> | BidiStream;
  /** Per type URL, per name: the version held and its HeldDigest hash. */
  readonly held: Map<string, Map<string, { version: string; h: number }>>;
  readonly digest: HeldDigest;
  readonly eds: Set<string>;
  frames: number;
  bytes: number;
  lastAt: number;
  /** Since `arm` with history: the arrival time and digest after each response. */
  history?: { at: number; digest: string }[];
  expect?: string | number;
  doneAt?: number;
  error?: string;
}

const cfg = JSON.parse(process.env.BENCH_XDS_CLIENT ?? '{}') as ClientHarnessConfig;
const streams = new Map<string, Stream>(proxies(cfg.n, cfg.localIngress).map((p) => [p.id, { id: p.id, type: p.type, held: new Map(), digest: new HeldDigest(), eds: new Set(), frames: 0, bytes: 0, lastAt: 0 }]));
const clients: { close(): void }[] = [];
let mode: 'digest' | 'count' = 'digest';
let waiting: { left: number; resolve: () => void } | undefined;
let errors = 0;
let firstError: string | undefined;
/** The latest arrival on any stream since `arm`. */
let lastAny = 0;

const digestOf = (s: Stream) => s.digest.toString();

/**
 * Marks the stream done if it holds what it is expected to. `at` is the arrival that got it there; with
 * a history, the first arrival after which it held that state without interruption.
 */
function check(s: Stream, at: number): void {
  if (s.expect === undefined || s.doneAt !== undefined) return;
  if (mode === 'count') {
    if (s.frames < (s.expect as number)) return;
    s.doneAt = at;
  } else if (s.history) {
    let i = s.history.length;
    while (i > 0 && s.history[i - 1]!.digest === s.expect) i--;
    if (i === s.history.length) {
      // No response since arm: done (with nothing to wait for) if it already held that.
      if (s.history.length > 0 || digestOf(s) !== s.expect) return;
      s.doneAt = 0;
    } else s.doneAt = s.history[i]!.at;
  } else {
    if (digestOf(s) !== s.expect) return;
    s.doneAt = at;
  }
  if (waiting && --waiting.left === 0) waiting.resolve();
}

function onResponse(s: Stream, frame: Buffer): void {
  const at = wall();
  s.frames++;
  s.bytes += frame.length;
  s.lastAt = at;
  lastAny = at;
  let r;
  try {
    r = decodeLeanDeltaResponse(frame);
  } catch (err) {
    s.error ??= (err as Error).message;
    return;
  }
  const type = r.typeUrl;
  let held = s.held.get(type);
  if (!held) s.held.set(type, (held = new Map()));
  const added: string[] = [];
  for (const [name, version] of r.resources) {
    const prev = held.get(name);
    if (!prev) added.push(name);
    else s.digest.remove(prev.h);
    const h = HeldDigest.hash(type, name, version);
    held.set(name, { version, h });
    s.digest.add(h);
  }
  const removed = r.removed;
  for (const name of removed) {
    const prev = held.get(name);
    if (!prev) continue;
    s.digest.remove(prev.h);
    held.delete(name);
  }
  const call = s.call!;
  // Like Envoy: ask for the endpoints of new clusters (and drop those of removed ones), then ACK.
  if (type === CDS) {
    const sub = added.filter((n) => !s.eds.has(n));
    const unsub = removed.filter((n) => s.eds.has(n));
    for (const n of sub) s.eds.add(n);
    for (const n of unsub) s.eds.delete(n);
    if (sub.length > 0 || unsub.length > 0) call.write(adsCodec.encodeDeltaRequest({ type_url: EDS, resource_names_subscribe: sub, resource_names_unsubscribe: unsub }));
  }
  call.write(encodeAck(type, r.nonce));
  s.history?.push({ at, digest: digestOf(s) });
  check(s, at);
}

function open(port: number): void {
  const target = `127.0.0.1:${port}`;
  let i = 0;
  for (const s of streams.values()) {
    const channel = Math.floor(i++ / cfg.streamsPerChannel);
    // Each channel is its own HTTP/2 connection. Plaintext, as the CP harness serves it (AdsServer with
    // createInsecure): TLS is not what is measured. Envoy's HTTP/2 windows for its xDS connection
    // (initial_stream_window_size and initial_connection_window_size default to 256 MiB), not
    // node's or grpc-js's 64 KiB: with 500 streams on a connection, a 64 KiB connection window
    // throttles a push to a WINDOW_UPDATE round trip every ~15 responses, which Envoy never sees.
    while (clients.length <= channel) {
      clients.push(CLIENT_IMPL === 'grpc-js'
        ? new AdsClient(target, credentials.createInsecure(), {
          'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc-node.flow_control_window': ENVOY_WINDOW_BYTES,
        })
        : new H2GrpcChannel(target, ENVOY_WINDOW_BYTES));
    }
    const c = clients[channel]!;
    const onError = (err: Error) => {
      errors++;
      s.error ??= err.message;
      firstError ??= `${s.id}: ${err.message}`;
    };
    if (c instanceof H2GrpcChannel) s.call = c.open(DELTA, { onMessage: (b) => onResponse(s, b), onError });
    else {
      const call = (c as InstanceType<typeof AdsClient>).makeBidiStreamRequest<Buffer, Buffer>(DELTA, pass, pass);
      call.on('data', (b: Buffer) => onResponse(s, b));
      call.on('error', onError);
      s.call = call;
    }
    const call = s.call;
    const node = { id: s.id, metadata: toStruct({ proxyType: s.type }) };
    call.write(adsCodec.encodeDeltaRequest({ node, type_url: CDS, resource_names_subscribe: ['*'] }));
    call.write(adsCodec.encodeDeltaRequest({ type_url: LDS, resource_names_subscribe: ['*'] }));
    if (s.type === 'dataplane') call.write(adsCodec.encodeDeltaRequest({ type_url: SDS, resource_names_subscribe: [identityCertSecretName(MESH), meshCaSecretName(MESH)] }));
  }
}

async function expect(a: ExpectArgs): Promise<ExpectResult> {
  mode = a.mode;
  const expected = Object.keys(a.map);
  let left = 0;
  for (const id of expected) {
    const s = streams.get(id);
    if (!s) throw new Error(`no stream for proxy ${id}`);
    s.expect = a.map[id];
    s.doneAt = undefined;
    left++;
  }
  const done = new Promise<void>((resolve) => {
    waiting = { left, resolve };
    if (left === 0) resolve();
  });
  for (const id of expected) {
    const s = streams.get(id)!;
    check(s, s.lastAt);
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, a.timeoutMs)))]);
  clearTimeout(timer);
  waiting = undefined;

  let converged = 0;
  let unchanged = 0;
  let last = 0;
  let frames = 0;
  let bytes = 0;
  let extraStreams = 0;
  let ingressBytes: number | undefined;
  const dpBytes: number[] = [];
  const dpFrames: number[] = [];
  const missing: string[] = [];
  for (const s of streams.values()) {
    frames += s.frames;
    bytes += s.bytes;
    if (s.expect === undefined) {
      if (s.frames > 0) extraStreams++;
      continue;
    }
    if (s.doneAt === undefined) {
      if (missing.length < 5) missing.push(s.id);
      continue;
    }
    converged++;
    if (s.frames === 0) unchanged++;
    else last = Math.max(last, s.doneAt);
    if (s.type === 'dataplane') {
      dpBytes.push(s.bytes);
      dpFrames.push(s.frames);
    } else ingressBytes = s.bytes;
  }
  dpBytes.sort((x, y) => x - y);
  dpFrames.sort((x, y) => x - y);
  return {
    expected: expected.length, converged, unchanged, last, extraStreams, frames, bytes, dpBytes, dpFrames, errors, missing,
    ...(ingressBytes !== undefined ? { ingressBytes } : {}), ...(firstError !== undefined ? { firstError } : {}),
  };
}

try {
  checkClientWire();
  // The Envoy protos load on first use: not while the streams are timed.
  adsCodec.decodeDeltaResponse(adsCodec.encodeDeltaResponse({ type_url: CDS }));
  adsCodec.encodeDeltaRequest({ type_url: CDS });
  serveBench({
    /**
     * From now on, count and stamp what arrives; forget what was expected before. With `history`, each
     * stream also keeps the digest after every response, so that what to expect may be said afterwards.
     */
    arm: (a: { history?: boolean } | undefined) => {
      lastAny = 0;
      for (const s of streams.values()) {
        s.frames = 0;
        s.bytes = 0;
        s.lastAt = 0;
        s.expect = undefined;
        s.doneAt = undefined;
        s.history = a?.history ? [] : undefined;
      }
      return true;
    },
    /** Resolves once no response arrived on any stream for `ms` (at most `timeoutMs`): the pushes are over. */
    quiet: async (a: { ms: number; timeoutMs: number }) => {
      const asked = wall();
      while (wall() - Math.max(asked, lastAny) < a.ms) {
        if (wall() - asked > a.timeoutMs) return false;
        await new Promise((r) => setTimeout(r, 10));
      }
      return true;
    },
    connect: (a: { port: number }) => {
      const startAt = wall();
      open(a.port);
      return { startAt, channels: clients.length };
    },
    expect,
    close: () => {
      for (const s of streams.values()) s.call?.end();
      for (const c of clients) c.close();
      return true;
    },
  });
  send({ kind: 'ready', pid: process.pid });
} catch (err) {
  fail(err);
}
