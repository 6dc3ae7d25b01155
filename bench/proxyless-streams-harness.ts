// The 1,000 clients of `npm run bench -- proxyless` (c), in their own process: one ADS stream per
// client to a real zone CP, over TLS with the zone's xDS CA and each client's own dataplane token, each
// on its own HTTP/2 connection by default (every agent or Envoy dials the zone itself).
//
// kind `proxyless`: what the zone receives from `meshfed-dp run --proxyless` with a grpc-js-xds app
// behind it, on the agent's one state-of-the-world stream (StreamAggregatedResources): the agent's node
// (its metadata as agent.ts builds it, the Dataplane in `dataplane.resource`, which the zone registers
// for the stream's life) on the first request, which asks SDS for the mesh's identity and CA; then what
// grpc-js-xds 1.14's XdsClient asks, relayed: LDS by name for the client's target (`xds:///svc-K`) and
// for the server's own Listener (`grpc/server?xds.resource.listening_address=127.0.0.1:<port>`), CDS by
// the names the client listener's inline routes give, EDS by the names those clusters give; every
// response ACKed with its version and nonce and the full list of names, as XdsClient does.
//
// kind `sidecar`: the baseline, an Envoy sidecar's delta stream (DeltaAggregatedResources) as the xds
// bench's proxies behave: CDS and LDS wildcard, SDS by name, EDS for the EDS clusters received, every
// response ACKed; its Dataplane registered through the zone's REST API (`register`).
//
// A client is configured when it holds something of every type it asked for, and converged when, in
// addition, every endpoint set it holds has every instance of its service (the topology's final state).
import {
  ADS_SERVICE, adsCodec, asBuffer, dataplaneNodeId, grpcServerListenerName, identityCertSecretName, MESHFED_VERSION, meshCaSecretName, NODE_METADATA, toStruct, unpack,
  XDS_TYPE_URL,
} from '@meshfed/shared';
// The agent's own parser, as built: the Dataplane travels in the node exactly as the agent sends it.
import { parseDataplaneDoc } from '../packages/dp/dist/dataplane-file.js';
import { dataplaneToken, put } from './proxyless-stage.js';
import { encodeAck, Reader } from './xds-client-wire.js';
import { type BidiStream, H2GrpcChannel } from './xds-h2-client.js';
import { fail, send, serveBench, wall } from './xds-proc.js';
import {
  clientName, dialledService, expectedInstances, inboundPort, MESH, proxylessStreamsDataplane, serviceIndexOf, serviceOf, sidecarDataplane,
} from './proxyless-topology.js';

export interface StreamsHarnessConfig {
  readonly kind: 'proxyless' | 'sidecar';
  readonly n: number;
  readonly services: number;
  readonly zone: string;
  readonly zoneUrl: string;
  /** host:port of the zone's ADS server, and its CA (plaintext when absent). */
  readonly xdsAddress: string;
  readonly caPem?: string;
  readonly streamsPerConnection: number;
}

export interface ExpectResult {
  readonly expected: number;
  /** Clients holding something of every type, and those holding the final endpoint sets. */
  readonly configured: number;
  readonly converged: number;
  /** Per client, from opening its stream to configured / converged (ms, sorted ascending). */
  readonly configuredMs: number[];
  readonly convergedMs: number[];
  /** Wall clock (this process) of the arrival that converged the last client; 0 if none. */
  readonly last: number;
  readonly responses: number;
  readonly bytes: number;
  readonly errors: number;
  readonly firstError?: string;
  /** Names of clients that did not converge (at most 5), with what they hold. */
  readonly missing: string[];
}

const SOTW = ADS_SERVICE.StreamAggregatedResources!.path;
const DELTA = ADS_SERVICE.DeltaAggregatedResources!.path;
const { listener: LDS, cluster: CDS, endpoint: EDS, secret: SDS } = XDS_TYPE_URL;
/** Envoy's and grpc-js's HTTP/2 windows differ; Envoy's (256 MiB) keeps a push from waiting on WINDOW_UPDATEs, as in the xds bench. */
const WINDOW_BYTES = 256 * 1024 * 1024;
/** REST calls in flight while issuing tokens and registering sidecars: an operator's script, not a flood. */
const REST_CONCURRENCY = 16;

const cfg = JSON.parse(process.env.BENCH_PROXYLESS_STREAMS ?? '{}') as StreamsHarnessConfig;

/** Per type URL: what a client asked for and holds. */
interface TypeState {
  names: string[];
  version: string;
  nonce: string;
  /** name → endpoints held (EDS), 0 for other types. */
  held: Map<string, number>;
}

interface Client {
  readonly i: number;
  readonly name: string;
  token?: string;
  call?: BidiStream;
  readonly types: Map<string, TypeState>;
  openedAt: number;
  configuredAt?: number;
  convergedAt?: number;
  error?: string;
}

const clients: Client[] = Array.from({ length: cfg.n }, (_, i) => ({ i, name: clientName(cfg.kind, i), types: new Map(), openedAt: 0 }));
const channels: H2GrpcChannel[] = [];
const secretNames = [identityCertSecretName(MESH), meshCaSecretName(MESH)];
let responses = 0;
let bytes = 0;
let errors = 0;
let firstError: string | undefined;
let lastAny = 0;
let waiting: { resolve: () => void } | undefined;
let left = cfg.n;

const typeOf = (c: Client, url: string): TypeState => {
  let t = c.types.get(url);
  if (!t) c.types.set(url, (t = { names: [], version: '', nonce: '', held: new Map() }));
  return t;
};

/** lb_endpoints (field 2 of each LocalityLbEndpoints, field 2 of a ClusterLoadAssignment), read by hand: EDS pushes are many. */
function countEndpoints(cla: Buffer): number {
  const r = new Reader(cla, 0, cla.length);
  let n = 0;
  while (r.off < r.end) {
    const tag = r.varint();
    if (tag !== 0x12) {
      r.skip(tag & 7);
      continue;
    }
    const [s, e] = r.span();
    const l = new Reader(cla, s, e);
    while (l.off < l.end) {
      const t = l.varint();
      if (t === 0x12) n++;
      l.skip(t & 7);
    }
  }
  return n;
}

/** The instances an endpoint set must hold at the end: its service's, named in the cluster (svc-K). */
function expectedOf(edsName: string): number | undefined {
  const k = serviceIndexOf(edsName);
  return k === undefined ? undefined : expectedInstances(k, cfg.n, cfg.services);
}

/** The EDS name of a cluster that takes its endpoints from EDS; undefined for any other. */
function edsNameOf(name: string, value: Buffer): string | undefined {
  const c = unpack({ type_url: CDS, value }) as { type?: string; eds_cluster_config?: { service_name?: string } };
  if (c.type !== 'EDS') return undefined;
  return c.eds_cluster_config?.service_name || name;
}

/** The clusters a gRPC client listener's inline routes send to (grpc-js-xds watches exactly these). */
function clustersOfClientListener(value: Buffer): string[] {
  const l = unpack({ type_url: LDS, value }) as { api_listener?: { api_listener?: { type_url: string; value: Buffer } } };
  const any = l.api_listener?.api_listener;
  if (!any) return [];
  type Route = { route?: { cluster?: string; weighted_clusters?: { clusters?: { name?: string }[] } } };
  const hcm = unpack(any) as { route_config?: { virtual_hosts?: { routes?: Route[] }[] } };
  const out = new Set<string>();
  for (const vh of hcm.route_config?.virtual_hosts ?? []) {
    for (const r of vh.routes ?? []) {
      if (r.route?.cluster) out.add(r.route.cluster);
      for (const w of r.route?.weighted_clusters?.clusters ?? []) if (w.name) out.add(w.name);
    }
  }
  return [...out].sort();
}

const sameNames = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** After each response: is the client configured, converged? */
function check(c: Client, at: number): void {
  if (c.convergedAt !== undefined) return;
  const sds = c.types.get(SDS);
  const eds = c.types.get(EDS);
  const held = (t: TypeState | undefined) => t !== undefined && t.held.size > 0;
  let configured = held(sds) && sds!.held.size === secretNames.length && held(c.types.get(LDS)) && held(c.types.get(CDS)) && held(eds);
  if (configured && cfg.kind === 'proxyless') {
    // Every name asked for is held (by name: a missing one is not there yet).
    configured = [LDS, CDS, EDS].every((u) => c.types.get(u)!.names.every((n) => c.types.get(u)!.held.has(n)));
  } else if (configured) configured = eds!.names.every((n) => eds!.held.has(n));
  if (!configured) return;
  c.configuredAt ??= at;
  for (const [name, count] of eds!.held) if (count !== expectedOf(name)) return;
  c.convergedAt = at;
  if (--left === 0) waiting?.resolve();
}

function onError(c: Client, err: Error): void {
  errors++;
  c.error ??= err.message;
  firstError ??= `${c.name}: ${err.message}`;
}

// ---------------------------------------------------------------------------------------------
// proxyless: the agent's SotW stream, carrying the app's subscriptions

function sotwRequest(url: string, t: TypeState): Buffer {
  return adsCodec.encodeRequest({ type_url: url, resource_names: t.names, version_info: t.version, response_nonce: t.nonce });
}

function onSotwResponse(c: Client, frame: Buffer): void {
  const at = wall();
  responses++;
  bytes += frame.length;
  lastAny = at;
  const d = adsCodec.decodeResponse(frame);
  if (!d.ok) return onError(c, new Error(d.error));
  const url = d.value.type_url ?? '';
  const t = typeOf(c, url);
  t.version = d.value.version_info ?? '';
  t.nonce = d.value.nonce ?? '';
  // State of the world: a response is the whole set of the type (of the names asked for).
  t.held = new Map();
  const resources = (d.value.resources ?? []).map((r) => ({ value: asBuffer(r.value), name: '' }));
  const call = c.call!;
  if (url === LDS) {
    const clusters = new Set<string>();
    for (const r of resources) {
      const l = unpack({ type_url: LDS, value: r.value }) as { name?: string };
      r.name = l.name ?? '';
      t.held.set(r.name, 0);
      if (r.name === serviceOf(dialledService(c.i, cfg.services))) for (const x of clustersOfClientListener(r.value)) clusters.add(x);
    }
    // As XdsClient: the ACK, then the new CDS subscription (with that type's last version and nonce).
    call.write(sotwRequest(url, t));
    const cds = typeOf(c, CDS);
    const names = [...clusters].sort();
    if (names.length > 0 && !sameNames(names, cds.names)) {
      cds.names = names;
      call.write(sotwRequest(CDS, cds));
    }
  } else if (url === CDS) {
    const edsNames = new Set<string>();
    for (const r of resources) {
      const cl = unpack({ type_url: CDS, value: r.value }) as { name?: string };
      t.held.set(cl.name ?? '', 0);
      const e = edsNameOf(cl.name ?? '', r.value);
      if (e) edsNames.add(e);
    }
    call.write(sotwRequest(url, t));
    const eds = typeOf(c, EDS);
    const names = [...edsNames].sort();
    if (names.length > 0 && !sameNames(names, eds.names)) {
      eds.names = names;
      call.write(sotwRequest(EDS, eds));
    }
  } else if (url === EDS) {
    for (const r of resources) {
      const name = clusterNameOfCla(r.value);
      t.held.set(name, countEndpoints(r.value));
    }
    call.write(sotwRequest(url, t));
  } else if (url === SDS) {
    for (const r of resources) t.held.set((unpack({ type_url: SDS, value: r.value }) as { name?: string }).name ?? '', 0);
    // The agent ACKs the secrets once written to disk: names, version, nonce.
    call.write(sotwRequest(url, t));
  } else call.write(sotwRequest(url, t));
  check(c, at);
}

/** cluster_name (field 1) of a ClusterLoadAssignment. */
function clusterNameOfCla(cla: Buffer): string {
  const r = new Reader(cla, 0, cla.length);
  while (r.off < r.end) {
    const tag = r.varint();
    if (tag === 0x0a) return r.string();
    r.skip(tag & 7);
  }
  return '';
}

function openProxyless(c: Client, ch: H2GrpcChannel): void {
  const port = inboundPort(c.i);
  const doc = parseDataplaneDoc(JSON.stringify(proxylessStreamsDataplane(c.name, port, c.i, cfg.services)), c.name);
  // The node exactly as agent.ts builds it.
  const node = {
    id: dataplaneNodeId(MESH, c.name), locality: { zone: cfg.zone },
    metadata: toStruct({
      [NODE_METADATA.proxyType]: 'dataplane', [NODE_METADATA.dataplaneResource]: JSON.stringify(doc.wire),
    }),
    user_agent_name: 'meshfed-dp', user_agent_version: MESHFED_VERSION,
  };
  c.call = ch.open(SOTW, { onMessage: (m) => onSotwResponse(c, m), onError: (e) => onError(c, e) }, { authorization: `Bearer ${c.token ?? ''}` });
  const sds = typeOf(c, SDS);
  sds.names = secretNames;
  c.call.write(adsCodec.encodeRequest({ node, type_url: SDS, resource_names: sds.names }));
  // The app: the client channel's Listener and the server's, one LDS subscription (one XdsClient per process).
  const lds = typeOf(c, LDS);
  lds.names = [serviceOf(dialledService(c.i, cfg.services)), grpcServerListenerName('127.0.0.1', port)].sort();
  c.call.write(sotwRequest(LDS, lds));
}

// ---------------------------------------------------------------------------------------------
// sidecar: Envoy's delta stream

function onDeltaResponse(c: Client, frame: Buffer): void {
  const at = wall();
  responses++;
  bytes += frame.length;
  lastAny = at;
  const d = adsCodec.decodeDeltaResponse(frame);
  if (!d.ok) return onError(c, new Error(d.error));
  const url = d.value.type_url ?? '';
  const t = typeOf(c, url);
  const call = c.call!;
  const sub: string[] = [];
  const unsub: string[] = [];
  const eds = typeOf(c, EDS);
  for (const r of d.value.resources ?? []) {
    const name = r.name ?? '';
    const value = r.resource?.value ? asBuffer(r.resource.value) : undefined;
    if (url === EDS) t.held.set(name, value ? countEndpoints(value) : 0);
    else {
      if (url === CDS && !t.held.has(name) && value) {
        const e = edsNameOf(name, value);
        if (e && !eds.names.includes(e)) sub.push(e);
      }
      t.held.set(name, 0);
    }
  }
  for (const name of d.value.removed_resources ?? []) {
    t.held.delete(name);
    if (url === CDS && eds.names.includes(name)) unsub.push(name);
  }
  // Like Envoy: the endpoints of new EDS clusters are asked for (those of removed ones dropped), then the ACK.
  if (sub.length > 0 || unsub.length > 0) {
    eds.names = [...eds.names.filter((n) => !unsub.includes(n)), ...sub];
    for (const n of unsub) eds.held.delete(n);
    call.write(adsCodec.encodeDeltaRequest({ type_url: EDS, resource_names_subscribe: sub, resource_names_unsubscribe: unsub }));
  }
  call.write(encodeAck(url, d.value.nonce ?? ''));
  check(c, at);
}

function openSidecar(c: Client, ch: H2GrpcChannel): void {
  c.call = ch.open(DELTA, { onMessage: (m) => onDeltaResponse(c, m), onError: (e) => onError(c, e) }, { authorization: `Bearer ${c.token ?? ''}` });
  const node = { id: dataplaneNodeId(MESH, c.name), metadata: toStruct({ [NODE_METADATA.proxyType]: 'dataplane' }) };
  c.call.write(adsCodec.encodeDeltaRequest({ node, type_url: CDS, resource_names_subscribe: ['*'] }));
  c.call.write(adsCodec.encodeDeltaRequest({ type_url: LDS, resource_names_subscribe: ['*'] }));
  typeOf(c, SDS).names = secretNames;
  c.call.write(adsCodec.encodeDeltaRequest({ type_url: SDS, resource_names_subscribe: secretNames }));
}

// ---------------------------------------------------------------------------------------------

/** Runs `f` over `items` with at most `concurrency` in flight. */
async function pool<T>(items: readonly T[], concurrency: number, f: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await f(items[next++]!);
  }));
}

async function expect(a: { timeoutMs: number }): Promise<ExpectResult> {
  if (left > 0) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((resolve) => (waiting = { resolve })), new Promise<void>((r) => (timer = setTimeout(r, a.timeoutMs)))]);
    clearTimeout(timer);
    waiting = undefined;
  }
  const configuredMs: number[] = [];
  const convergedMs: number[] = [];
  const missing: string[] = [];
  let last = 0;
  for (const c of clients) {
    if (c.configuredAt !== undefined) configuredMs.push(c.configuredAt - c.openedAt);
    if (c.convergedAt !== undefined) {
      convergedMs.push(c.convergedAt - c.openedAt);
      last = Math.max(last, c.convergedAt);
    } else if (missing.length < 5) {
      const holds = [...c.types].map(([u, t]) => `${u.split('.').at(-1)}: ${[...t.held].map(([n, k]) => (u === EDS ? `${n}=${k}` : n)).join(',')}`).join('; ');
      missing.push(`${c.name} (${holds}${c.error ? `; ${c.error}` : ''})`);
    }
  }
  configuredMs.sort((x, y) => x - y);
  convergedMs.sort((x, y) => x - y);
  return {
    expected: clients.length, configured: configuredMs.length, converged: convergedMs.length, configuredMs, convergedMs, last, responses, bytes, errors, missing,
    ...(firstError !== undefined ? { firstError } : {}),
  };
}

try {
  // The Envoy protos load on first use: not while the streams are timed.
  adsCodec.decodeResponse(adsCodec.encodeResponse({ type_url: CDS }));
  serveBench({
    /** Issues every client's dataplane token (before anything is measured: an operator's provisioning). */
    tokens: async () => {
      const t0 = performance.now();
      await pool(clients, REST_CONCURRENCY, async (c) => {
        c.token = await dataplaneToken({ url: cfg.zoneUrl }, c.name);
      });
      return { ms: performance.now() - t0 };
    },
    /** sidecar: PUTs every Dataplane on the zone's API; returns when each was answered. */
    register: async () => {
      const startAt = wall();
      const t0 = performance.now();
      await pool(clients, REST_CONCURRENCY, async (c) => {
        const dp = sidecarDataplane(c.name, inboundPort(c.i), c.i, cfg.services);
        await put(`${cfg.zoneUrl}/meshes/${MESH}/dataplanes/${c.name}`, dp);
      });
      return { ms: performance.now() - t0, startAt };
    },
    /** Opens every stream at once (a fleet starting), `streamsPerConnection` to an HTTP/2 connection. */
    connect: () => {
      const startAt = wall();
      for (const c of clients) {
        const k = Math.floor(c.i / cfg.streamsPerConnection);
        while (channels.length <= k) channels.push(new H2GrpcChannel(cfg.xdsAddress, WINDOW_BYTES, cfg.caPem !== undefined ? { caPem: cfg.caPem } : {}));
        c.openedAt = wall();
        if (cfg.kind === 'proxyless') openProxyless(c, channels[k]!);
        else openSidecar(c, channels[k]!);
      }
      return { startAt, connections: channels.length };
    },
    expect,
    /** Resolves once no response arrived for `ms` (false past `timeoutMs`): the zone's pushes are over. */
    quiet: async (a: { ms: number; timeoutMs: number }) => {
      const asked = wall();
      while (wall() - Math.max(asked, lastAny) < a.ms) {
        if (wall() - asked > a.timeoutMs) return false;
        await new Promise((r) => setTimeout(r, 20));
      }
      return true;
    },
    close: () => {
      for (const c of clients) c.call?.end();
      for (const ch of channels) ch.close();
      return true;
    },
  });
  send({ kind: 'ready', pid: process.pid });
} catch (err) {
  fail(err);
}
