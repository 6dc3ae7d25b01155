// The zone CP side of `npm run bench -- xds`, in its own process (run with --expose-gc): a memory store
// holding the bench topology, the mesh CA's certificate cache, the xDS reconciler publishing into a
// SnapshotCache, and the ADS server the client harness's streams connect to. Commands come over IPC;
// nothing here measures a latency (the client stamps arrivals), it only stamps the store commits.
// With `policies` > 0 the store also holds that many targetRef policies of each type (xds-topology.ts).
import { LogWarnings } from './log-warnings.js';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { ServerCredentials } from '@grpc/grpc-js';
import {
  adsCodec, type AdsResource, createLogger, generateCa, InProcessEventBus, MemoryStore, pack, type Resource, Telemetry, XDS_TYPE_URL, type XdsKind,
} from '@meshfed/shared';
// The zone's code as built (tsc, what `npm start` runs), not its sources through tsx, whose
// transform wraps every function it names in a helper call and measured slower than what ships.
import { meshCaSecretNames } from '../packages/zone/dist/mesh-ca/ca-secrets.js';
import { WorkloadCertificateCache } from '../packages/zone/dist/mesh-ca/workload-certificate-cache.js';
import { AdsServer } from '../packages/zone/dist/xds/ads-server.js';
import { allowAll } from '../packages/zone/dist/xds/auth.js';
import { parseProxyId } from '../packages/zone/dist/xds/proxy-id.js';
import { computeProxyRules, parsePolicies, type ProxyRules } from '../packages/zone/dist/xds/rules/index.js';
import { ProxyInsights } from '../packages/zone/dist/xds/proxy-insights.js';
import type { XdsSnapshot } from '../packages/zone/dist/xds/snapshot.js';
import { SnapshotCache } from '../packages/zone/dist/xds/snapshot-cache.js';
import { startXdsReconciler, type XdsReconciler } from '../packages/zone/dist/xds/xds-reconciler.js';
import { stateDigest } from './xds-client-wire.js';
import { fail, send, serveBench, sleep, wall } from './xds-proc.js';
import {
  CA_BACKEND, dataplane, dpName, localIngress, MESH, mesh, meshTimeout, policies, policyTarget, policyTypeIndex, remoteIngress, service, SERVICES, shardTimeout, ZONE,
} from './xds-topology.js';

export interface CpHarnessConfig {
  readonly n: number;
  readonly localIngress: boolean;
  /** Policies of each targetRef type (BENCH_XDS_POLICIES); 0: none, and dataplanes without the shard tag. */
  readonly policies?: number;
}

/** Warnings the zone logged (and proxies with a problem) since the last `take`: none expected from the bench's policies. */
export interface Complaints {
  readonly warnings: number;
  readonly problemProxies: number;
  readonly examples: string[];
}

/** The types the client harness subscribes to (no RDS: the sidecars here are TCP only). */
const SERVED: readonly XdsKind[] = ['cluster', 'listener', 'secret', 'endpoint'];
const RUN_TIMEOUT_MS = 120_000;

/** Remembers, per proxy, its snapshot before the first change since `arm`: what changed, and from what. */
class TrackingCache extends SnapshotCache {
  readonly changed = new Map<string, XdsSnapshot | undefined>();

  arm(): void {
    this.changed.clear();
  }

  override set(proxyId: string, snapshot: XdsSnapshot): boolean {
    const previous = this.get(proxyId);
    const published = super.set(proxyId, snapshot);
    if (published && !this.changed.has(proxyId)) this.changed.set(proxyId, previous);
    return published;
  }

  override clear(proxyId: string): boolean {
    const previous = this.get(proxyId);
    const cleared = super.clear(proxyId);
    if (cleared && !this.changed.has(proxyId)) this.changed.set(proxyId, previous);
    return cleared;
  }
}

const cfg = JSON.parse(process.env.BENCH_XDS_CP ?? '{}') as CpHarnessConfig;
const POLICIES = cfg.policies ?? 0;
const sharded = POLICIES > 0;

/** Counts the zone's warn/error log lines (passing them on to stderr) and the proxies that have a problem. */
class Complaint {
  readonly #log = new LogWarnings(5, (chunk) => process.stderr.write(chunk));
  readonly destination = this.#log.destination;
  get warnings(): number {
    return this.#log.count;
  }
  get examples(): string[] {
    return this.#log.examples;
  }
  readonly problems = new Map<string, string>();
  readonly #newProblems = new Set<string>();

  problem(proxyId: string, problem: string | undefined): void {
    if (problem === undefined) {
      this.problems.delete(proxyId);
      return;
    }
    this.problems.set(proxyId, problem);
    this.#newProblems.add(proxyId);
  }

  /** What was complained about since the last call: warnings logged, proxies that got a (new) problem. */
  take(): Complaints {
    const examples = [...this.examples, ...[...this.#newProblems].slice(0, 3).map((id) => `${id}: ${this.problems.get(id) ?? ''}`.slice(0, 300))];
    const out = { warnings: this.warnings, problemProxies: this.#newProblems.size, examples };
    this.#log.count = 0;
    this.examples.length = 0;
    this.#newProblems.clear();
    return out;
  }
}
const complaints = new Complaint();
const log = createLogger({ component: 'zone', zone: ZONE, level: 'warn', destination: complaints.destination });
const telemetry = new Telemetry({ service: 'meshfed-zone-bench' });
const bus = new InProcessEventBus();
const store = new MemoryStore(bus);
const cache = new TrackingCache();
let certificates: WorkloadCertificateCache | undefined;
let reconciler: XdsReconciler | undefined;
let server: AdsServer | undefined;
let profiler: Session | undefined;

/**
 * Memory after a full gc: the V8 heap plus external memory (the encoded resources are Buffers, whose
 * bytes live outside the heap).
 */
function heap(): { total: number; external: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the CP harness with --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return { total: m.heapUsed + m.external, external: m.external };
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`${what} is not set up`);
  return v;
}

/** Resolves once the reconciler has finished a run that started after `before` runs. */
async function runsAfter(before: number): Promise<void> {
  const r = need(reconciler, 'the reconciler');
  const until = Date.now() + RUN_TIMEOUT_MS;
  while (r.stats().runs <= before) {
    if (Date.now() > until) throw new Error(`the reconciler finished no run within ${RUN_TIMEOUT_MS} ms`);
    await sleep(1);
  }
}

function* entriesOf(s: XdsSnapshot | undefined): Generator<[string, string, string]> {
  if (!s) return;
  for (const k of SERVED) for (const [name, e] of s.types[k].entries) yield [XDS_TYPE_URL[k], name, e.version];
}

/** Streams are matched by node id; the cache keys ingresses by proxy id (`zoneingress:<name>`). */
const nodeIdOf = (proxyId: string) => parseProxyId(proxyId).nodeId;

/** Digests of the given proxies' snapshots, yielding to the event loop so pushes in flight keep flowing. */
async function digests(ids: Iterable<string>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  let i = 0;
  for (const id of ids) {
    out[nodeIdOf(id)] = stateDigest(entriesOf(cache.get(id)));
    if (++i % 200 === 0) await new Promise((r) => setImmediate(r));
  }
  return out;
}

/** Per type, what a delta stream holding `prev` needs to hold `next`: the changed resources and the removed names. */
function diff(prev: XdsSnapshot | undefined, next: XdsSnapshot | undefined) {
  const out: { kind: XdsKind; resources: AdsResource[]; removed: string[] }[] = [];
  for (const kind of SERVED) {
    const a = prev?.types[kind].entries;
    const b = next?.types[kind].entries;
    const resources: AdsResource[] = [];
    const removed: string[] = [];
    for (const [name, e] of b ?? []) if (a?.get(name)?.version !== e.version) resources.push({ name, version: e.version, resource: e.resource });
    for (const name of a?.keys() ?? []) if (!b?.has(name)) removed.push(name);
    if (resources.length > 0 || removed.length > 0) out.push({ kind, resources, removed });
  }
  return out;
}

/** Dataplanes of one service get the same configuration but for their own address: one class each. */
function classOf(proxyId: string): string {
  const m = /\.dp-(\d+)$/.exec(proxyId);
  return m ? `svc-${Number(m[1]) % SERVICES}` : proxyId;
}

/**
 * The baseline's input: the delta responses each proxy received for the last change (or, for
 * `initial`, its whole configuration), encoded once per class of proxies with the same shape, so
 * that the bare server writes the same responses without regenerating anything.
 */
function writePlan(file: string, initial: boolean): { classes: number; proxies: number; bytes: number } {
  const pairs: [string, XdsSnapshot | undefined, XdsSnapshot | undefined][] = initial
    ? cache.proxyIds().map((id) => [id, undefined, cache.get(id)])
    : [...cache.changed].map(([id, prev]) => [id, prev, cache.get(id)]);
  const classes = new Map<string, { ids: string[]; frames: string[] }>();
  let bytes = 0;
  for (const [id, prev, next] of pairs) {
    const d = diff(prev, next);
    const key = `${classOf(id)}|${d.map((x) => `${x.kind}:${x.resources.length}:${x.removed.length}`).join(',')}`;
    const c = classes.get(key);
    if (c) {
      c.ids.push(nodeIdOf(id));
      continue;
    }
    const frames = d.map((x) => adsCodec.encodeDeltaResponse({
      type_url: XDS_TYPE_URL[x.kind], system_version_info: 'baseline', resources: x.resources, removed_resources: x.removed, nonce: `baseline-${x.kind}`,
    }));
    bytes += frames.reduce((s, f) => s + f.length, 0);
    classes.set(key, { ids: [nodeIdOf(id)], frames: frames.map((f) => f.toString('base64')) });
  }
  writeFileSync(file, JSON.stringify({ classes: [...classes.values()] }));
  return { classes: classes.size, proxies: pairs.length, bytes };
}

/**
 * That each generated policy selects the proxies it was made for: the zone's own matching step
 * (rules/) on a dataplane of the policy's shard that calls the policy's `to` service. Returns the
 * policies that did not (none expected); the two changed MeshTimeouts are checked by their phases.
 */
function checkSelection(pols: readonly Resource[]): string[] {
  const parsed = parsePolicies(pols);
  if (parsed.problems.length > 0) return parsed.problems;
  const byCaller = new Map<number, ProxyRules>();
  const bad: string[] = [];
  for (const p of pols) {
    const m = /^bench-[a-z]+-(\d+)$/.exec(p.name);
    if (!m) continue;
    const { caller, target } = policyTarget(Number(m[1]), policyTypeIndex(p.type), cfg.n);
    let rules = byCaller.get(caller);
    if (!rules) {
      const dp = dataplane(caller, 0, sharded);
      byCaller.set(caller, (rules = computeProxyRules({ name: dpName(caller), mesh: MESH, spec: dp.spec as never }, parsed.policies)));
    }
    const r = (rules as Record<string, { policies: readonly string[]; toByService: Record<string, { origins: readonly string[] }> } | undefined>)[p.type];
    const spec = (p.spec as { spec: { to?: unknown[] } }).spec;
    if (!r?.policies.includes(p.name)) bad.push(`${p.type} ${p.name}: does not select ${dpName(caller)}`);
    else if (spec.to && !r.toByService[service(target)]?.origins.includes(p.name)) bad.push(`${p.type} ${p.name}: not in ${dpName(caller)}'s rules for ${service(target)}`);
  }
  return bad;
}

/**
 * Commits `resources` (the commit is stamped) and answers once the reconciler ran: its run, the
 * snapshots that changed (cache.changed), and the CPU this process used meanwhile.
 */
async function commitAndRun(resources: readonly Resource[]) {
  const r = need(reconciler, 'the reconciler');
  cache.arm();
  const before = r.stats().runs;
  const cpu0 = process.cpuUsage();
  const at = wall();
  await store.commit(resources.map((resource) => ({ op: 'put' as const, resource })));
  await runsAfter(before);
  const cpu = process.cpuUsage(cpu0);
  const s = r.stats();
  return { at, runMs: s.lastRunMs, generated: s.lastGenerated, changed: cache.changed.size, runCpuMs: (cpu.user + cpu.system) / 1000 };
}

async function setup() {
  const heapEmpty = heap();
  // The Envoy protos load on first use: a fixed cost, not one per dataplane.
  pack(XDS_TYPE_URL.cluster, { name: 'warm-up' });
  adsCodec.encodeDeltaResponse({ type_url: XDS_TYPE_URL.cluster });
  const heapProtos = heap();

  const ca = await generateCa({ commonName: MESH });
  const names = meshCaSecretNames(MESH, CA_BACKEND);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const global = { 'kuma.io/origin': 'global' };
  await store.commit([
    { op: 'put', resource: mesh(true) },
    { op: 'put', resource: { type: 'Secret', mesh: MESH, name: names.cert, labels: global, spec: { data: b64(ca.certPem) } } },
    { op: 'put', resource: { type: 'Secret', mesh: MESH, name: names.key, labels: global, spec: { data: b64(ca.keyPem) } } },
    { op: 'put', resource: remoteIngress() },
    ...(cfg.localIngress ? [{ op: 'put' as const, resource: localIngress() }] : []),
  ]);
  const dps = Array.from({ length: cfg.n }, (_, i) => ({ op: 'put' as const, resource: dataplane(i, 0, sharded) }));
  for (let i = 0; i < dps.length; i += 1000) await store.commit(dps.slice(i, i + 1000));
  const heapDataplanes = heap();
  // The policies (BENCH_XDS_POLICIES of each type), in the store before the reconciler's first run.
  const pols = policies(POLICIES, cfg.n);
  for (let i = 0; i < pols.length; i += 1000) await store.commit(pols.slice(i, i + 1000).map((resource) => ({ op: 'put' as const, resource })));
  const heapStore = heap();

  // The first full run: every proxy's snapshot from nothing, every workload certificate issued.
  certificates = new WorkloadCertificateCache({ store, bus });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  reconciler = startXdsReconciler({ store, bus, log, telemetry, zone: ZONE, cache, certificates, resyncIntervalMs: 0, onProblem: (id, p) => complaints.problem(id, p) });
  await runsAfter(0);
  const firstWallMs = performance.now() - t0;
  const firstCpu = process.cpuUsage(cpu0);
  const first = reconciler.stats();
  const issued = certificates.issued;
  const heapReconciled = heap();

  // A full run with everything warm: the resync safety net's cost.
  await reconciler.resyncNow();
  const warm = reconciler.stats();
  const heapWarm = heap();
  return {
    heapEmpty: heapEmpty.total, heapProtos: heapProtos.total, heapDataplanes: heapDataplanes.total, heapStore: heapStore.total, heapReconciled: heapReconciled.total, heapWarm: heapWarm.total,
    policies: pols.length, unselected: checkSelection(pols), complaints: complaints.take(),
    externalXds: heapReconciled.external - heapStore.external,
    firstRunMs: first.lastRunMs, firstWallMs, firstCpuMs: (firstCpu.user + firstCpu.system) / 1000, firstGenerated: first.lastGenerated,
    proxies: first.proxies, certificatesIssued: issued, warmRunMs: warm.lastRunMs, warmGenerated: warm.lastGenerated,
    snapshots: cache.size,
  };
}

try {
  serveBench({
    setup,
    heap: () => ({ ...heap(), rss: process.memoryUsage().rss }),
    start: async () => {
      // Plaintext on purpose: the bench measures the control plane, not TLS; its client harness dials insecure to match.
      server = new AdsServer({ cache, insights: new ProxyInsights(), log, telemetry, address: '127.0.0.1', port: 0, credentials: ServerCredentials.createInsecure(), authenticate: allowAll });
      return { port: await server.start() };
    },
    /** Every proxy's digest (before the streams connect: what each must end up holding). */
    digests: (a: { changed?: boolean }) => digests(a.changed ? cache.changed.keys() : cache.proxyIds()),
    /** One Dataplane moves to a new address: the store commit is stamped; answers once the reconciler ran, with what changed. */
    change: async (a: { i: number; generation: number }) => {
      const r = await commitAndRun([dataplane(a.i, a.generation, sharded)]);
      return { at: r.at, runMs: r.runMs, generated: r.generated, expected: await digests(cache.changed.keys()) };
    },
    /** A mesh-wide change (mTLS on or off); digests are asked for separately, so that computing them does not delay the pushes. */
    mesh: async (a: { mtls: boolean }) => commitAndRun([mesh(a.mtls)]),
    /** (e) The MeshTimeout selecting one shard (1% of the dataplanes) gets a new connectionTimeout; answers like `change`. */
    'policy-change': async (a: { connectionTimeout: string }) => {
      const r = await commitAndRun([shardTimeout(a.connectionTimeout)]);
      return { at: r.at, runMs: r.runMs, generated: r.generated, expected: await digests(cache.changed.keys()), complaints: complaints.take() };
    },
    /** (f) The MeshTimeout targeting the Mesh gets a new connectionTimeout; answers like `mesh`. */
    'policy-mesh': async (a: { connectionTimeout: string }) => ({ ...(await commitAndRun([meshTimeout(a.connectionTimeout)])), complaints: complaints.take() }),
    /** Warnings logged and proxies that got a problem since the last time asked (drains them). */
    complaints: () => complaints.take(),
    plan: (a: { file: string; initial?: boolean }) => writePlan(a.file, a.initial === true),
    /** A V8 CPU profile and allocation sample of this process between `profile-start` and `profile-stop` (BENCH_XDS_PHASE_PROF). */
    'profile-start': async () => {
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 200 });
      await profiler.post('Profiler.start');
      // And where the phase allocates, collected objects included (what the GC's share comes from).
      await profiler.post('HeapProfiler.enable');
      await profiler.post('HeapProfiler.startSampling', { samplingInterval: 16 * 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      return true;
    },
    'profile-stop': async (a: { file: string }) => {
      const s = need(profiler, 'the profiler');
      const { profile } = await s.post('Profiler.stop');
      writeFileSync(a.file, JSON.stringify(profile));
      const { profile: heap } = await s.post('HeapProfiler.stopSampling');
      writeFileSync(a.file.replace(/\.cpuprofile$/, '.heapprofile'), JSON.stringify(heap));
      s.disconnect();
      profiler = undefined;
      return true;
    },
    stop: async () => {
      await server?.stop();
      await reconciler?.stop();
      certificates?.close();
      return true;
    },
  });
  send({ kind: 'ready', pid: process.pid });
} catch (err) {
  fail(err);
}
