// `npm run bench -- gateway`: what one builtin gateway with 1,000 route rules over 100 hostnames and
// 200 services costs the zone CP, against baselines measured in the same run: the same gateway with 10
// rules over 10 hostnames, and a sidecar with outbounds to the same 200 services (what a gateway-less
// mesh costs). The zone (gateway-topology.ts): one mesh with builtin mTLS (no MeshTrafficPermission:
// it does not apply to builtin gateways, and the zone says so as a problem), 200 HTTP services with 2
// local instances each, 50 of them also in zone-2 behind its ZoneIngress. Each case gets its own store, reconciler and ADS server. Figures:
//   (a) computing the proxy's configuration straight through the generator table (GENERATORS, as the
//       reconciler does): the zone-wide part (index, dependency versions with every dataplane's rules),
//       the proxy's own first generation (fresh memo and rules) and a warm one (nothing changed); the
//       reconciler's run when the proxy's Dataplane appears; the memory the CP retains for it;
//   (b) the bytes of its resources per type, and as received on its ADS stream at first sync;
//   (c) one route changed (gateways: one MeshGatewayRoute's first rule gets a new path prefix, a
//       different route each time; sidecar: its MeshHTTPRoute's path prefix) -> the new snapshot
//       published by the real zone reconciler -> the proxy's delta ADS stream holding it (p50/p99).
// Knobs: BENCH_GATEWAY_ROUTES=1000 BENCH_GATEWAY_HOSTNAMES=100 BENCH_GATEWAY_SERVICES=200
// BENCH_GATEWAY_INSTANCES=2 BENCH_GATEWAY_REMOTE=50 BENCH_GATEWAY_SMALL_ROUTES=10 (the small gateway's
// rules and hostnames) BENCH_GATEWAY_REPS=20 (generator repetitions) BENCH_GATEWAY_SAMPLES=100
// BENCH_GATEWAY_WARMUP=10 BENCH_GATEWAY_TIMEOUT_MS=30000 BENCH_GATEWAY_CASES=gateway,small,sidecar
import { LogWarnings } from './log-warnings.js';
import { cpus, loadavg } from 'node:os';
import { ServerCredentials } from '@grpc/grpc-js';
import { createLogger, generateCa, InProcessEventBus, MemoryStore, type Resource, Telemetry, XDS_TYPE_URL, type XdsKind } from '@meshfed/shared';
// The zone's code as built (tsc, what `npm start` runs), as the xds bench does.
import { meshCaSecretNames } from '../packages/zone/dist/mesh-ca/ca-secrets.js';
import { WorkloadCertificateCache } from '../packages/zone/dist/mesh-ca/workload-certificate-cache.js';
import { AdsServer } from '../packages/zone/dist/xds/ads-server.js';
import { allowAll } from '../packages/zone/dist/xds/auth.js';
import { dependencyVersions, type GenerationContext, ResourceMemo } from '../packages/zone/dist/xds/generate/context.js';
import { GENERATORS } from '../packages/zone/dist/xds/generate/generators.js';
import { RulesCache } from '../packages/zone/dist/xds/generate/matching.js';
import { buildZoneIndex, type ResourceView } from '../packages/zone/dist/xds/generate/zone-index.js';
import { ProxyInsights } from '../packages/zone/dist/xds/proxy-insights.js';
import { parseProxyId } from '../packages/zone/dist/xds/proxy-id.js';
import { isPolicyKind } from '../packages/zone/dist/xds/rules/index.js';
import { makeSnapshot, type XdsSnapshot } from '../packages/zone/dist/xds/snapshot.js';
import { SnapshotCache } from '../packages/zone/dist/xds/snapshot-cache.js';
import { startXdsReconciler, type XdsReconciler } from '../packages/zone/dist/xds/xds-reconciler.js';
import {
  CA_BACKEND, GATEWAY_DP, GATEWAY_SERVICE, gatewayDataplane, gatewayRoute, instance, MESH, mesh, meshGateway, remoteIngress, SIDECAR_DP, SIDECAR_SERVICE,
  sidecarDataplane, sidecarRoute, ZONE,
} from './gateway-topology.js';
import { DeltaStream } from './gateway-stream.js';
import { stateDigest } from './xds-client-wire.js';
import { fmt, summarize, table } from './stats.js';

const int = (v: string | undefined, def: number, min = 1) => {
  const n = Number(v);
  return v !== undefined && Number.isInteger(n) && n >= min ? n : def;
};
const ROUTES = int(process.env.BENCH_GATEWAY_ROUTES, 1000);
const HOSTNAMES = Math.min(ROUTES, int(process.env.BENCH_GATEWAY_HOSTNAMES, 100));
const SERVICES = int(process.env.BENCH_GATEWAY_SERVICES, 200);
const INSTANCES = int(process.env.BENCH_GATEWAY_INSTANCES, 2);
const REMOTE = Math.min(SERVICES, int(process.env.BENCH_GATEWAY_REMOTE, 50, 0));
const SMALL = int(process.env.BENCH_GATEWAY_SMALL_ROUTES, 10);
const REPS = int(process.env.BENCH_GATEWAY_REPS, 20);
const SAMPLES = int(process.env.BENCH_GATEWAY_SAMPLES, 100);
const WARMUP = int(process.env.BENCH_GATEWAY_WARMUP, 10, 0);
/** Generations kept at once to measure what one retains. */
const COPIES = 10;
/** Readings of the CP's memory for the proxy (see runCase). */
const MEM_CYCLES = 5;
const MEM_NOISE = 100 * 1024;
const TIMEOUT_MS = int(process.env.BENCH_GATEWAY_TIMEOUT_MS, 30_000);
const CASES = new Set((process.env.BENCH_GATEWAY_CASES ?? 'gateway,small,sidecar').split(',').map((s) => s.trim()));

/** The xDS types a proxy is served; RDS only if the generator names route configurations. */
const KINDS: readonly XdsKind[] = ['listener', 'route', 'cluster', 'endpoint', 'secret'];
const KIND_LABEL: Record<XdsKind, string> = { listener: 'LDS', route: 'RDS', cluster: 'CDS', endpoint: 'EDS', secret: 'SDS' };

const kib = (b: number | undefined) => (b === undefined ? '-' : b < 1024 ? `${b} B` : `${(b / 1024).toFixed(1)} KiB`);
const mib = (b: number | undefined) => (b === undefined ? '-' : `${(b / 1024 / 1024).toFixed(2)} MiB`);
const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : fmt(x));
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(1)}x` : '-');
const p50 = (xs: number[]) => (xs.length === 0 ? undefined : summarize(xs).p50);
const p99 = (xs: number[]) => (xs.length === 0 ? undefined : summarize(xs).p99);
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

/** Memory after a full gc: the V8 heap plus external memory (encoded resources are Buffers). */
function heap(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the bench with node --expose-gc (npm run bench does)');
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Remembers when each proxy's snapshot was last published, and which changed since `arm`. */
class TrackingCache extends SnapshotCache {
  readonly changed = new Set<string>();
  readonly publishedAt = new Map<string, number>();

  arm(): void {
    this.changed.clear();
  }

  override set(proxyId: string, snapshot: XdsSnapshot): boolean {
    const published = super.set(proxyId, snapshot);
    if (published) {
      this.changed.add(proxyId);
      this.publishedAt.set(proxyId, performance.now());
    }
    return published;
  }
}


interface Case {
  readonly key: string;
  readonly label: string;
  readonly what: string;
  readonly dp: string;
  readonly identity: string;
  /** What the case adds to the zone before its proxy's Dataplane (the gateway and its routes, the sidecar's route). */
  resources(): Resource[];
  proxy(): Resource;
  /** Change i of the route-change phase. */
  change(i: number): Resource;
}

function gatewayCase(key: string, routes: number, hostnames: number): Case {
  return {
    key, label: `gateway, ${routes} rules`, what: `${hostnames} hostnames`, dp: GATEWAY_DP, identity: GATEWAY_SERVICE,
    resources: () => [meshGateway(hostnames), ...Array.from({ length: hostnames }, (_, h) => gatewayRoute(h, routes, hostnames, SERVICES))],
    proxy: gatewayDataplane,
    // A different route each time, so that the changes spread over the hostnames; its path always new.
    change: (i) => gatewayRoute(i % hostnames, routes, hostnames, SERVICES, Math.floor(i / hostnames) + 1),
  };
}

const sidecarCase: Case = {
  key: 'sidecar', label: `sidecar, ${SERVICES} outbounds`, what: '1 MeshHTTPRoute', dp: SIDECAR_DP, identity: SIDECAR_SERVICE,
  resources: () => [sidecarRoute(0)], proxy: () => sidecarDataplane(SERVICES), change: (i) => sidecarRoute(i + 1),
};

interface Result {
  readonly c: Case;
  failed?: string;
  problems: readonly string[];
  complaints: LogWarnings;
  // (a) through the generator table
  indexMs: number[];
  versionsMs: number[];
  firstEverMs?: number;
  coldMs: number[];
  warmMs: number[];
  /** Retained by the proxy's memo entries, rules and snapshot (generator path), and by the CP for it (reconciler path). */
  genRetained?: number;
  storeBytes?: number;
  cpBytes?: number;
  cpReaddedBytes?: number;
  reconcileFirstMs?: number;
  reconcileFirstGenerated?: number;
  // (b)
  byKind: Partial<Record<XdsKind, { count: number; bytes: number }>>;
  syncBytes?: number;
  syncFrames?: number;
  syncMs?: number;
  // (c)
  published: number[];
  delivered: number[];
  runMs: number[];
  generated: number[];
  changedProxies: number[];
  changeBytes: number[];
  incomplete: number;
  unchanged: number;
}

const proxyIdOf = (dp: string) => `${MESH}.${dp}`;
const digestOf = (s: XdsSnapshot | undefined, kinds: readonly XdsKind[]) =>
  stateDigest(s ? kinds.flatMap((k) => [...s.types[k].entries].map(([name, e]) => [XDS_TYPE_URL[k], name, e.version] as const)) : []);

async function baseResources(): Promise<Resource[]> {
  const ca = await generateCa({ commonName: MESH });
  const names = meshCaSecretNames(MESH, CA_BACKEND);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const global = { 'kuma.io/origin': 'global' };
  return [
    mesh(true),
    { type: 'Secret', mesh: MESH, name: names.cert, labels: global, spec: { data: b64(ca.certPem) } },
    { type: 'Secret', mesh: MESH, name: names.key, labels: global, spec: { data: b64(ca.keyPem) } },
    remoteIngress(REMOTE),
    ...Array.from({ length: SERVICES * INSTANCES }, (_, i) => instance(Math.floor(i / INSTANCES), i % INSTANCES, INSTANCES)),
  ];
}

/** The zone index's input from resources, as the reconciler reads them from the store. */
function indexInput(resources: readonly Resource[]) {
  const views = resources.map((r) => ({ type: r.type as string, name: r.name, ...(r.mesh !== undefined ? { mesh: r.mesh } : {}), labels: r.labels ?? {}, spec: r.spec as Record<string, unknown> }));
  const of = (type: string): ResourceView[] => views.filter((v) => v.type === type);
  return {
    zone: ZONE, meshes: of('Mesh'), dataplanes: of('Dataplane'), zoneIngresses: of('ZoneIngress'), zoneEgresses: of('ZoneEgress'),
    externalServices: of('ExternalService'), policies: views.filter((v) => isPolicyKind(v.type)), secrets: of('Secret'),
    meshGateways: of('MeshGateway'), meshGatewayRoutes: of('MeshGatewayRoute'),
  };
}

/**
 * (a), (b) through the generator table: REPS times the zone index and dependency versions, then the
 * proxy generated with a fresh memo and rules (cold), then REPS times again with nothing changed (warm).
 */
function throughGenerators(r: Result, resources: readonly Resource[], cert: { version: string; certPem: string; keyPem: string; caPem: string }): void {
  const input = indexInput(resources);
  const id = proxyIdOf(r.c.dp);
  const gen = GENERATORS.find((g) => g.has(buildZoneIndex(input), id));
  if (!gen) throw new Error(`no generator has ${id}`);
  const generate = (ctx: GenerationContext) => {
    const g = gen.generate(ctx, ctx.index, id);
    if (!g?.resources) throw new Error(`${id} has no configuration: ${(g?.problems ?? []).join('; ')}`);
    return { g, snapshot: makeSnapshot(g.resources) };
  };
  // As the reconciler gives it: a fresh memo, the certificate fetched beforehand, the mesh's CA.
  const contextOf = (index: GenerationContext['index'], versions: GenerationContext['versions'], rules: RulesCache): GenerationContext => ({
    index, versions, memo: new ResourceMemo(), rules, certificate: () => cert, certificateProblem: () => undefined, meshCaPem: (m) => (m === MESH ? cert.caPem : undefined),
  });
  let last: { g: { problems: readonly string[] }; snapshot: XdsSnapshot } | undefined;
  let ctx: GenerationContext | undefined;
  for (let i = 0; i < REPS; i++) {
    let t = performance.now();
    const index = buildZoneIndex(input);
    r.indexMs.push(performance.now() - t);
    const rules = new RulesCache();
    t = performance.now();
    const versions = dependencyVersions(index, rules);
    r.versionsMs.push(performance.now() - t);
    ctx = contextOf(index, versions, rules);
    t = performance.now();
    last = generate(ctx);
    const took = performance.now() - t;
    if (i === 0) r.firstEverMs = took;
    else r.coldMs.push(took);
  }
  for (let i = 0; i < REPS; i++) {
    const t = performance.now();
    last = generate(ctx!);
    r.warmMs.push(performance.now() - t);
  }
  r.problems = last!.g.problems;
  for (const k of KINDS) {
    const entries = [...last!.snapshot.types[k].entries.values()];
    if (entries.length > 0) r.byKind[k] = { count: entries.length, bytes: entries.reduce((s, e) => s + e.bytes.length, 0) };
  }
  // What the proxy's own configuration keeps alive (memo entries and snapshot, over a zone already
  // indexed): COPIES generations, each with its own memo, kept at once, so that one reading's noise
  // (a few hundred KiB after a gc) is shared by them.
  const index = buildZoneIndex(input);
  const rules = new RulesCache();
  const versions = dependencyVersions(index, rules);
  generate(contextOf(index, versions, rules));
  const before = heap();
  const kept = Array.from({ length: COPIES }, () => generate(contextOf(index, versions, rules)));
  r.genRetained = (heap() - before) / COPIES;
  if (kept.some((k) => k.snapshot.version === '')) throw new Error('unreachable: keeps `kept` alive across the gc');
}

async function runCase(c: Case, base: readonly Resource[]): Promise<Result> {
  const r: Result = {
    c, problems: [], complaints: new LogWarnings(3), indexMs: [], versionsMs: [], coldMs: [], warmMs: [], byKind: {},
    published: [], delivered: [], runMs: [], generated: [], changedProxies: [], changeBytes: [], incomplete: 0, unchanged: 0,
  };
  const bus = new InProcessEventBus();
  const store = new MemoryStore(bus);
  const cache = new TrackingCache();
  const log = createLogger({ component: 'zone', zone: ZONE, level: 'warn', destination: r.complaints.destination });
  const telemetry = new Telemetry({ service: 'meshfed-zone-bench' });
  let certificates: WorkloadCertificateCache | undefined;
  let reconciler: XdsReconciler | undefined;
  let server: AdsServer | undefined;
  let stream: DeltaStream | undefined;
  const id = proxyIdOf(c.dp);
  const runsAfter = async (before: number) => {
    const until = performance.now() + TIMEOUT_MS;
    while (reconciler!.stats().runs <= before) {
      if (performance.now() > until) throw new Error(`the reconciler finished no run within ${TIMEOUT_MS} ms`);
      await new Promise((res) => setImmediate(res));
    }
  };
  const put = (resources: readonly Resource[]) => store.commit(resources.map((resource) => ({ op: 'put' as const, resource })));
  try {
    for (let i = 0; i < base.length; i += 1000) await put(base.slice(i, i + 1000));
    const own = c.resources();
    const h0 = heap();
    await put(own);
    r.storeBytes = heap() - h0;

    // The zone's other proxies first: the run measured below is the proxy's alone.
    certificates = new WorkloadCertificateCache({ store, bus });
    reconciler = startXdsReconciler({ store, bus, log, telemetry, zone: ZONE, cache, certificates, resyncIntervalMs: 0 });
    await runsAfter(0);
    // Its certificate issued beforehand: key generation is the CA's cost, not the configuration's.
    const issued = await certificates.get(MESH, [c.identity]);
    const cert = { version: 'bench', certPem: issued.certPem, keyPem: issued.keyPem, caPem: issued.caCertPem };

    throughGenerators(r, [...base, ...own, c.proxy()], cert);

    const h2 = heap();
    let before = reconciler.stats().runs;
    await put([c.proxy()]);
    await runsAfter(before);
    r.reconcileFirstMs = reconciler.stats().lastRunMs;
    r.reconcileFirstGenerated = reconciler.stats().lastGenerated;
    r.cpBytes = heap() - h2;
    // The same again, median over removals and re-additions: one reading is within ~100 KiB, and the
    // memo keeps the proxy's encoded resources across its removal, so this is its snapshot and state.
    const cpSamples: number[] = [];
    for (let k = 1; k < MEM_CYCLES; k++) {
      before = reconciler.stats().runs;
      await store.commit([{ op: 'delete', key: { type: 'Dataplane', mesh: MESH, name: c.dp } }]);
      await runsAfter(before);
      const without = heap();
      before = reconciler.stats().runs;
      await put([c.proxy()]);
      await runsAfter(before);
      cpSamples.push(heap() - without);
    }
    r.cpReaddedBytes = p50(cpSamples);
    const snapshot = cache.get(id);
    if (!snapshot) throw new Error(`${id} got no snapshot: ${reconciler.explain(id) ?? 'no reason given'}`);
    const kinds = KINDS.filter((k) => k !== 'route' || snapshot.types.route.entries.size > 0);

    server = new AdsServer({ cache, insights: new ProxyInsights(), log, telemetry, address: '127.0.0.1', port: 0, credentials: ServerCredentials.createInsecure(), authenticate: allowAll });
    const port = await server.start();
    const t0 = performance.now();
    stream = new DeltaStream(port, parseProxyId(id).nodeId, MESH, [...snapshot.types.route.entries.keys()]);
    const synced = await stream.until(digestOf(snapshot, kinds), TIMEOUT_MS);
    if (synced === undefined) throw new Error(`the stream did not get ${id}'s configuration${stream.error ? `: ${stream.error}` : ''}`);
    r.syncMs = synced - t0;
    r.syncBytes = stream.bytes;
    r.syncFrames = stream.frames;

    for (let i = 0; i < WARMUP + SAMPLES; i++) {
      stream.arm();
      cache.arm();
      before = reconciler.stats().runs;
      const at = performance.now();
      await put([c.change(i)]);
      await runsAfter(before);
      const s = reconciler.stats();
      if (!cache.changed.has(id)) {
        r.unchanged++;
        continue;
      }
      const got = await stream.until(digestOf(cache.get(id), kinds), TIMEOUT_MS);
      if (i < WARMUP) continue;
      if (got === undefined) {
        r.incomplete++;
        continue;
      }
      r.published.push(cache.publishedAt.get(id)! - at);
      r.delivered.push(got - at);
      r.runMs.push(s.lastRunMs);
      r.generated.push(s.lastGenerated);
      r.changedProxies.push(cache.changed.size);
      r.changeBytes.push(stream.bytes);
    }
  } catch (err) {
    r.failed = (err as Error).message;
  } finally {
    stream?.close();
    await server?.stop();
    await reconciler?.stop();
    certificates?.close();
  }
  return r;
}

export async function benchGateway(): Promise<void> {
  const started = performance.now();
  const cases = [gatewayCase('gateway', ROUTES, HOSTNAMES), gatewayCase('small', SMALL, Math.min(SMALL, HOSTNAMES)), sidecarCase].filter((c) => CASES.has(c.key));
  console.log('gateway benchmark: one builtin gateway\'s configuration in the zone CP, through the generator table and the real xDS reconciler, with a delta ADS stream over gRPC on loopback');
  console.log(`zone: 1 mesh, builtin mTLS, no MeshTrafficPermission; ${SERVICES} HTTP services x ${INSTANCES} local instances (${SERVICES * INSTANCES} sidecars), ${REMOTE} of them also in zone-2 (2 instances each, behind its ZoneIngress)`);
  console.log(`gateway: MeshGateway ${GATEWAY_SERVICE}, one HTTP listener on port 8080 per hostname; one MeshGatewayRoute per hostname; rule j sends to svc-(j % ${SERVICES}); its matches cycle through`);
  console.log('  PREFIX path, EXACT path, PREFIX + header, REGEX path, GET + PREFIX split 80/20 over two services (a fifth of the rules)');
  console.log(`cases (each its own store, reconciler, ADS server): ${cases.map((c) => `${c.label} (${c.what})`).join('; ')};`);
  console.log(`  the baselines are the small gateway (what the rules cost) and the sidecar calling every service (what a gateway-less mesh pays per proxy)`);
  console.log(`one process (${cpus().length} cores, load avg ${load()} at start, node ${process.version}); memory: V8 heap used + external after a full gc\n`);

  const base = await baseResources();
  const results: Result[] = [];
  for (const c of cases) {
    console.error(`... ${c.label} (load ${load()})`);
    results.push(await runCase(c, base));
  }
  const of = (key: string) => results.find((x) => x.c.key === key && !x.failed);
  const vs = (f: (x: Result) => number | undefined, x: Result) => [ratio(f(x), maybe(of('small'), f)), ratio(f(x), maybe(of('sidecar'), f))];
  const maybe = (x: Result | undefined, f: (x: Result) => number | undefined) => (x ? f(x) : undefined);
  /** Memory ratios only against figures above one reading's noise (~0.1 MiB). */
  const vsMem = (f: (x: Result) => number | undefined, x: Result) => vs((y) => {
    const v = f(y);
    return v !== undefined && v >= MEM_NOISE ? v : undefined;
  }, x);

  console.log(`(a) computing the proxy's configuration: through GENERATORS (what the reconciler calls), ${REPS} times with a fresh memo and rules, then ${REPS} times warm (nothing changed);`);
  console.log('    and the reconciler\'s run when the proxy\'s Dataplane is committed into a zone whose other proxies are configured (certificate issued beforehand)');
  const a: string[][] = [['case', 'zone index p50', '+versions, rules p50', 'first ever', 'first p50', 'first p99', 'warm p50', 'warm p99', 'reconciler run', 'generated', 'first p50 vs small', 'vs sidecar', 'warm p50 vs small', 'vs sidecar']];
  for (const x of results) {
    if (x.failed && x.coldMs.length === 0) {
      a.push([x.c.label, `failed: ${x.failed}`]);
      continue;
    }
    a.push([
      x.c.label, ms(p50(x.indexMs)), ms(p50(x.versionsMs)), ms(x.firstEverMs), ms(p50(x.coldMs)), ms(p99(x.coldMs)), ms(p50(x.warmMs)), ms(p99(x.warmMs)),
      ms(x.reconcileFirstMs), String(x.reconcileFirstGenerated ?? '-'), ...vs((y) => p50(y.coldMs), x), ...vs((y) => p50(y.warmMs), x),
    ]);
  }
  console.log(table(a));
  console.log('    (zone index, +versions: the zone-wide part of a run, every proxy\'s rules included; first: the proxy generated and its snapshot made, memo and rules fresh,');
  console.log('     "first ever" the very first call (cold JIT); warm: the same again with everything cached; reconciler run: its own figure, index to snapshot published)\n');

  console.log('    memory: the case\'s own resources in the store; what the CP retains once the reconciler configured the proxy (snapshot, memo, rules, index');
  console.log(`    entries; one reading), and the median over ${MEM_CYCLES - 1} removals and re-additions (the memo keeps its encoded resources meanwhile);`);
  console.log(`    the generated configuration alone (memo entries and snapshot, generator path, ${COPIES} kept at once)`);
  const m: string[][] = [['case', 'store: its resources', 'CP: the proxy configured', 're-added', 'generated config', 'CP vs small', 'vs sidecar', 'generated vs small', 'vs sidecar']];
  for (const x of results) {
    if (x.cpBytes === undefined) {
      m.push([x.c.label, `failed: ${x.failed ?? '-'}`]);
      continue;
    }
    m.push([x.c.label, mib(x.storeBytes), mib(x.cpBytes), mib(x.cpReaddedBytes), mib(x.genRetained), ...vsMem((y) => y.cpBytes, x), ...vsMem((y) => y.genRetained, x)]);
  }
  console.log(table(m));
  console.log('    (one reading after a full gc is within about 0.1 MiB: small or negative figures are that noise, and no ratio is given against them)\n');

  console.log('(b) bytes of the proxy\'s resources (encoded Envoy protos, per xDS type: count / bytes), and as received on its delta ADS stream at first sync');
  const b: string[][] = [['case', ...KINDS.map((k) => KIND_LABEL[k]), 'total', 'on the stream', 'responses', 'connect -> configured', 'total vs small', 'vs sidecar']];
  const total = (x: Result) => (Object.keys(x.byKind).length === 0 ? undefined : Object.values(x.byKind).reduce((s, v) => s + v.bytes, 0));
  for (const x of results) {
    if (total(x) === undefined) {
      b.push([x.c.label, `failed: ${x.failed ?? '-'}`]);
      continue;
    }
    b.push([
      x.c.label, ...KINDS.map((k) => (x.byKind[k] ? `${x.byKind[k]!.count} / ${kib(x.byKind[k]!.bytes)}` : '-')), kib(total(x)), kib(x.syncBytes), String(x.syncFrames ?? '-'),
      ms(x.syncMs), ...vs(total, x),
    ]);
  }
  console.log(table(b));
  console.log('    (on the stream: DeltaDiscoveryResponse bytes without the gRPC prefix; connect -> configured: from opening the stream to holding every resource)\n');

  console.log(`(c) one route changed (gateways: one MeshGatewayRoute's first rule gets a new path prefix, a different route each time; sidecar: its MeshHTTPRoute's prefix)`);
  console.log(`    store commit -> the proxy's new snapshot published by the zone reconciler -> its ADS stream holding it; ${SAMPLES} sequential changes after ${WARMUP} warm-up`);
  const ct: string[][] = [['case', 'samples', 'published p50', 'published p99', 'delivered p50', 'delivered p99', 'reconcile p50', 'proxies generated', 'snapshots changed', 'bytes/change', 'delivered p50 vs small', 'vs sidecar']];
  for (const x of results) {
    if (x.delivered.length === 0) {
      ct.push([x.c.label, `no samples${x.failed ? `: ${x.failed}` : ''}`]);
      continue;
    }
    ct.push([
      x.c.label, `${x.delivered.length}${x.incomplete ? ` (+${x.incomplete} incomplete)` : ''}${x.unchanged ? ` (+${x.unchanged} without a new snapshot)` : ''}`,
      ms(p50(x.published)), ms(p99(x.published)), ms(p50(x.delivered)), ms(p99(x.delivered)), ms(p50(x.runMs)), String(p50(x.generated) ?? '-'), String(p50(x.changedProxies) ?? '-'),
      kib(p50(x.changeBytes)), ...vs((y) => p50(y.delivered), x),
    ]);
  }
  console.log(table(ct));
  console.log('    (published: from the commit to the snapshot in the cache; delivered: to the arrival of the response after which the stream holds it;');
  console.log('     reconcile: the reconciler\'s own run time; proxies generated / snapshots changed: per change, median; bytes/change: response bytes the stream received)');

  for (const x of results) {
    if (x.failed) console.log(`    (${x.c.label}: failed: ${x.failed})`);
    if (x.problems.length > 0) console.log(`    (${x.c.label}: the proxy's problems: ${x.problems.slice(0, 3).join(' | ')}${x.problems.length > 3 ? ` and ${x.problems.length - 3} more` : ''})`);
    if (x.complaints.count > 0) console.log(`    (${x.c.label}: the zone logged ${x.complaints.count} warnings, e.g. ${x.complaints.examples.join(' | ')})`);
  }
  console.log(`    (load avg at the end: ${load()}; total ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}
