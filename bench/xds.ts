// `npm run bench -- xds`: the zone CP's xDS path at 1,000 and 5,000 dataplanes over 500 services, with
// real ADS client streams (delta, DeltaAggregatedResources) over gRPC on loopback, each part in its
// own OS process: the zone CP (store, mesh CA certificates, xDS reconciler, ADS server), the proxies'
// streams, and the baseline server. Figures:
//   (a) time and heap to compute every proxy's snapshot (the reconciler's first full run);
//   (b) time from one Dataplane's store commit to every affected proxy's stream holding its update;
//   (c) bytes of one proxy's full configuration as received on its stream;
//   (d) time from a mesh-wide store commit (mTLS off / on) to every stream holding its new configuration;
//   with BENCH_XDS_POLICIES=P > 0, P targetRef policies of each of the 11 types are in the store from
//   the start (so (a) to (d) include them; dataplanes get a `shard` tag the policies select by), and:
//   (e) time from one policy's store commit (a MeshTimeout selecting 1% of the dataplanes) to every
//       affected stream holding its update;
//   (f) time from a Mesh-targeted policy's store commit (a MeshTimeout, connectionTimeout toggled) to
//       every stream holding its new configuration;
// against a baseline measured in the same run: a bare grpc-js server writing the same responses,
// precomputed, to the same streams.
// Knobs: BENCH_XDS_DATAPLANES=1000,5000 BENCH_XDS_SAMPLES=100 BENCH_XDS_WARMUP=10 BENCH_XDS_MESH_CYCLES=5
// BENCH_XDS_POLICIES=0 (policies of each type; 0: none, today's bench, figures comparable with earlier
// runs; 50 is the issue's case; (e) takes SAMPLES after WARMUP, (f) MESH_CYCLES of each toggle)
// BENCH_XDS_STREAMS_PER_CHANNEL=500 BENCH_XDS_LOCAL_INGRESS=1 BENCH_XDS_PARTS=meshfed,baseline
// BENCH_XDS_TIMEOUT_MS=30000 (one convergence) BENCH_XDS_SYNC_TIMEOUT_MS=120000 (setup, initial sync)
// BENCH_XDS_BUDGET_S=270, 540 with policies (past it, sampling stops early and says so)
// BENCH_XDS_VERBOSE=1 (children's output on stderr) BENCH_XDS_CPU_PROF=DIR (V8 CPU profile of every child, whole life)
// BENCH_XDS_PHASE_PROF=DIR (V8 CPU profiles of the zone CP per phase: setup, changes, mesh-wide,
// policy-changes, policy-mesh-wide)
// BENCH_XDS_CP_NODE_FLAGS="--flag ..." (node flags of the zone CP process)
// BENCH_XDS_CLIENT_IMPL=h2|grpc-js (the proxies' gRPC client: node:http2 directly, or grpc-js's client).
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientHarnessConfig, ExpectResult } from './xds-client-harness.js';
import type { Complaints, CpHarnessConfig } from './xds-cp-harness.js';
import { killAll, Proc, TimeoutError } from './xds-proc.js';
import {
  CHANGED_SHARD, MESH_TIMEOUT_VALUES, OUTBOUNDS, REMOTE_ONLY, REMOTE_SHARED, SERVICES, SHARD_TAG, SHARD_TIMEOUT_VALUES, SHARDS,
} from './xds-topology.js';
import { fmt, summarize, table } from './stats.js';

const nums = (v: string | undefined, def: number[]) => (v ? v.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0) : def);
const DATAPLANES = nums(process.env.BENCH_XDS_DATAPLANES, [1000, 5000]);
const SAMPLES = Number(process.env.BENCH_XDS_SAMPLES ?? 100);
const WARMUP = Number(process.env.BENCH_XDS_WARMUP ?? 10);
const MESH_CYCLES = Number(process.env.BENCH_XDS_MESH_CYCLES ?? 5);
/** Policies of each targetRef type in the store (BENCH_XDS_POLICIES); 0 leaves the bench as it was before policies. */
const POLICIES = Math.max(0, Math.floor(Number(process.env.BENCH_XDS_POLICIES ?? 0)) || 0);
const PER_CHANNEL = Number(process.env.BENCH_XDS_STREAMS_PER_CHANNEL ?? 500);
const LOCAL_INGRESS = process.env.BENCH_XDS_LOCAL_INGRESS !== '0';
const PARTS = new Set((process.env.BENCH_XDS_PARTS ?? 'meshfed,baseline').split(',').map((s) => s.trim()));
const TIMEOUT_MS = Number(process.env.BENCH_XDS_TIMEOUT_MS ?? 30_000);
const SYNC_TIMEOUT_MS = Number(process.env.BENCH_XDS_SYNC_TIMEOUT_MS ?? 120_000);
// Policies add two phases (e, f) and make every run slower: twice the time by default.
const BUDGET_MS = Number(process.env.BENCH_XDS_BUDGET_S ?? (POLICIES > 0 ? 540 : 270)) * 1000;
/** Node flags of the zone CP process (BENCH_XDS_CP_NODE_FLAGS, space-separated; default none). */
const CP_NODE_FLAGS = (process.env.BENCH_XDS_CP_NODE_FLAGS ?? '').split(' ').filter(Boolean);
/** A directory: the CP harness writes a V8 CPU profile of each phase there (setup, changes, mesh-wide, policy-changes, policy-mesh-wide). */
const PHASE_PROF = process.env.BENCH_XDS_PHASE_PROF;

const CP_HARNESS = './xds-cp-harness.ts';
const CLIENT_HARNESS = './xds-client-harness.ts';
const BASELINE_HARNESS = './xds-baseline-harness.ts';

const kib = (b: number | undefined) => (b === undefined ? '-' : b < 1024 ? `${b} B` : `${(b / 1024).toFixed(1)} KiB`);
const mib = (b: number | undefined) => (b === undefined ? '-' : `${(b / 1024 / 1024).toFixed(1)} MiB`);
const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : fmt(x));
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(1)}x` : '-');
const median = (xs: number[]) => (xs.length === 0 ? undefined : summarize(xs).p50);
const maxOf = (xs: number[]) => (xs.length === 0 ? undefined : Math.max(...xs));
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

let started = 0;
const overBudget = () => performance.now() - started > BUDGET_MS;

// ---------------------------------------------------------------------------------------------

/** Memory figures are heap used + external (Buffers) after a full gc. */
interface Setup {
  heapEmpty: number; heapProtos: number; heapDataplanes: number; heapStore: number; heapReconciled: number; heapWarm: number; externalXds: number;
  /** Policies committed (BENCH_XDS_POLICIES x 11 + 3), those the matching step did not select as intended, what the zone complained about. */
  policies: number; unselected: string[]; complaints: Complaints;
  firstRunMs: number; firstWallMs: number; firstCpuMs: number; firstGenerated: number; proxies: number;
  certificatesIssued: number; warmRunMs: number; warmGenerated: number; snapshots: number;
}

interface Usage {
  rss: number;
  heapUsed: number;
  cpuMs: number;
}

interface MeshWide {
  label: string;
  latency: number[];
  runMs: number[];
  /** CPU of the CP and of the client process from the commit until the streams went quiet. */
  cpCpuMs: number[];
  clientCpuMs: number[];
  changed: number[];
  bytes: number[];
  incomplete: number;
  plans: string[];
  complaints: Complaints;
}

interface Changes {
  latency: number[];
  runMs: number[];
  generated: number[];
  affected: number[];
  extra: number[];
  bytes: number[];
  cpCpuPerChange?: number;
  clientCpuPerChange?: number;
  incomplete: number;
  plans: string[];
  complaints: Complaints;
}

interface MeshfedCell {
  setup?: Setup;
  heapStreams?: number;
  rssStreams?: number;
  initialMs?: number;
  initial?: ExpectResult;
  changes?: Changes;
  mesh: MeshWide[];
  /** (e), (f): with BENCH_XDS_POLICIES only. */
  policyChanges?: Changes;
  policyMesh: MeshWide[];
  initialPlan?: string;
  failed?: string;
}

interface BaselineCell {
  initialMs?: number;
  initial?: ExpectResult;
  changes: number[];
  policyChanges: number[];
  mesh: Map<string, { latency: number; clientCpuMs: number; serverCpuMs: number }[]>;
  failed?: string;
}

const noComplaints = (): Complaints => ({ warnings: 0, problemProxies: 0, examples: [] });
function addComplaints(to: Complaints, c: Complaints | undefined): Complaints {
  if (!c) return to;
  return { warnings: to.warnings + c.warnings, problemProxies: to.problemProxies + c.problemProxies, examples: [...to.examples, ...c.examples].slice(0, 5) };
}
const complained = (c: Complaints | undefined) => c !== undefined && (c.warnings > 0 || c.problemProxies > 0);

function describeFailure(err: unknown): string {
  console.error(`  (${(err as Error).message})`);
  return err instanceof TimeoutError ? 'timeout' : 'error';
}

function clientProc(name: string, n: number): Proc {
  const cfg: ClientHarnessConfig = { n, localIngress: LOCAL_INGRESS, streamsPerChannel: PER_CHANNEL };
  return new Proc(name, CLIENT_HARNESS, { BENCH_XDS_CLIENT: JSON.stringify(cfg) });
}

function expectation(client: Proc, mode: 'digest' | 'count', map: Record<string, string | number>, timeoutMs = TIMEOUT_MS): Promise<ExpectResult> {
  return client.request<ExpectResult>('expect', timeoutMs + 5000, { mode, map, timeoutMs });
}

function complete(r: ExpectResult, what: string): boolean {
  if (r.converged === r.expected) return true;
  console.error(`  (${what}: ${r.converged}/${r.expected} streams converged; e.g. ${r.missing.join(', ')}${r.firstError ? `; stream error: ${r.firstError}` : ''})`);
  return false;
}

async function meshfedCell(n: number, dir: string): Promise<MeshfedCell> {
  const out: MeshfedCell = { mesh: [], policyMesh: [] };
  const procs: Proc[] = [];
  try {
    const cfg: CpHarnessConfig = { n, localIngress: LOCAL_INGRESS, policies: POLICIES };
    const cp = new Proc(`cp-${n}`, CP_HARNESS, { BENCH_XDS_CP: JSON.stringify(cfg) }, ['--expose-gc', ...CP_NODE_FLAGS]);
    procs.push(cp);
    await cp.ready(SYNC_TIMEOUT_MS);
    const profiled = async <T>(phase: string, f: () => Promise<T>): Promise<T> => {
      if (!PHASE_PROF) return f();
      await cp.request('profile-start', TIMEOUT_MS);
      try {
        return await f();
      } finally {
        await cp.request('profile-stop', SYNC_TIMEOUT_MS, { file: join(PHASE_PROF, `cp-${n}-${phase}.cpuprofile`) });
      }
    };
    out.setup = await profiled('setup', () => cp.request<Setup>('setup', SYNC_TIMEOUT_MS));
    const { port } = await cp.request<{ port: number }>('start', TIMEOUT_MS);
    const client = clientProc(`clients-${n}`, n);
    procs.push(client);
    await client.ready(SYNC_TIMEOUT_MS);
    const [cpClock, clientClock] = [await cp.clockOffset(), await client.clockOffset()];
    const skew = clientClock.offset - cpClock.offset;
    const onBench = (t: number, p: { offset: number }) => t - p.offset;

    // Initial sync: every stream connects and must end up holding exactly its snapshot.
    const all = await cp.request<Record<string, string>>('digests', SYNC_TIMEOUT_MS, {});
    await client.request('arm', TIMEOUT_MS);
    const { startAt } = await client.request<{ startAt: number }>('connect', SYNC_TIMEOUT_MS, { port });
    out.initial = await expectation(client, 'digest', all, SYNC_TIMEOUT_MS);
    if (!complete(out.initial, 'initial sync')) throw new Error('initial sync incomplete');
    out.initialMs = out.initial.last - startAt;
    const h = await cp.request<{ total: number; rss: number }>('heap', TIMEOUT_MS);
    out.heapStreams = h.total;
    out.rssStreams = h.rss;
    out.initialPlan = join(dir, `initial-${n}.json`);
    await cp.request('plan', SYNC_TIMEOUT_MS, { file: out.initialPlan, initial: true });

    type ChangeReply = { at: number; runMs: number; generated: number; expected: Record<string, string>; complaints?: Complaints };
    /**
     * (b), (e): WARMUP + SAMPLES sequential changes, each from its store commit to every stream whose
     * snapshot changed holding its update (the others must receive nothing); the plans for the baseline.
     */
    const sampleChanges = async (phase: string, request: (i: number) => Promise<ChangeReply>): Promise<Changes> => {
      const c: Changes = { latency: [], runMs: [], generated: [], affected: [], extra: [], bytes: [], incomplete: 0, plans: [], complaints: noComplaints() };
      const [cpU0, clU0] = [await cp.request<Usage>('usage', TIMEOUT_MS), await client.request<Usage>('usage', TIMEOUT_MS)];
      let done = 0;
      await profiled(phase, async () => {
        for (let i = 0; i < WARMUP + SAMPLES; i++) {
          if (i >= WARMUP && overBudget()) break;
          await client.request('arm', TIMEOUT_MS);
          const r = await request(i);
          const e = await expectation(client, 'digest', r.expected);
          done++;
          c.complaints = addComplaints(c.complaints, r.complaints);
          if (i < WARMUP) continue;
          if (!complete(e, `${phase} ${i}`)) {
            c.incomplete++;
            continue;
          }
          c.latency.push(onBench(e.last, clientClock) - onBench(r.at, cpClock));
          c.runMs.push(r.runMs);
          c.generated.push(r.generated);
          c.affected.push(e.expected - e.unchanged);
          c.extra.push(e.extraStreams);
          c.bytes.push(e.bytes);
          const plan = join(dir, `${phase}-${n}-${i}.json`);
          await cp.request('plan', TIMEOUT_MS, { file: plan });
          c.plans.push(plan);
        }
      });
      const [cpU1, clU1] = [await cp.request<Usage>('usage', TIMEOUT_MS), await client.request<Usage>('usage', TIMEOUT_MS)];
      // Plans are written between samples: their CPU is in the CP's figure (small next to a run).
      c.cpCpuPerChange = (cpU1.cpuMs - cpU0.cpuMs) / Math.max(1, done);
      c.clientCpuPerChange = (clU1.cpuMs - clU0.cpuMs) / Math.max(1, done);
      return c;
    };

    type WideReply = { at: number; runMs: number; changed: number; complaints?: Complaints };
    /** (d), (f): each of `steps` in turn, MESH_CYCLES times: from the commit to every stream holding its new configuration. */
    const sampleMeshWide = async (phase: string, steps: readonly { label: string; request: () => Promise<WideReply> }[]): Promise<MeshWide[]> => {
      const wide = steps.map(({ label }): MeshWide => ({ label, latency: [], runMs: [], cpCpuMs: [], clientCpuMs: [], changed: [], bytes: [], incomplete: 0, plans: [], complaints: noComplaints() }));
      await profiled(phase, async () => {
        for (let k = 0; k < MESH_CYCLES && !overBudget(); k++) {
          for (const [s, step] of steps.entries()) {
            const m = wide[s]!;
            // What every proxy must end up holding is asked for once the pushes are over (the streams keep
            // a history meanwhile), so that computing it does not compete with them in the CP.
            await client.request('arm', TIMEOUT_MS, { history: true });
            const [cp0, cl0] = [await cp.request<Usage>('usage', TIMEOUT_MS), await client.request<Usage>('usage', TIMEOUT_MS)];
            const r = await step.request();
            await client.request('quiet', TIMEOUT_MS + 5000, { ms: 300, timeoutMs: TIMEOUT_MS });
            const [cp1, cl1] = [await cp.request<Usage>('usage', TIMEOUT_MS), await client.request<Usage>('usage', TIMEOUT_MS)];
            const expected = await cp.request<Record<string, string>>('digests', TIMEOUT_MS, { changed: true });
            const e = await expectation(client, 'digest', expected);
            m.complaints = addComplaints(m.complaints, r.complaints);
            if (!complete(e, `${m.label} #${k + 1}`)) {
              m.incomplete++;
              continue;
            }
            m.latency.push(onBench(e.last, clientClock) - onBench(r.at, cpClock));
            m.runMs.push(r.runMs);
            m.cpCpuMs.push(cp1.cpuMs - cp0.cpuMs);
            m.clientCpuMs.push(cl1.cpuMs - cl0.cpuMs);
            m.changed.push(r.changed);
            m.bytes.push(e.bytes);
            const plan = join(dir, `${phase}-${n}-${k}-${s}.json`);
            await cp.request('plan', SYNC_TIMEOUT_MS, { file: plan });
            m.plans.push(plan);
          }
        }
      });
      return wide;
    };

    // (b) one Dataplane at a time moves to a new address.
    out.changes = await sampleChanges('changes', (i) => cp.request<ChangeReply>('change', TIMEOUT_MS, { i: (i * 7919) % n, generation: i + 1 }));

    // (d) mesh-wide: mTLS off, then on again, MESH_CYCLES times.
    out.mesh = await sampleMeshWide('mesh-wide', [
      { label: 'mTLS on -> off', request: () => cp.request<WideReply>('mesh', TIMEOUT_MS, { mtls: false }) },
      { label: 'mTLS off -> on', request: () => cp.request<WideReply>('mesh', TIMEOUT_MS, { mtls: true }) },
    ]);

    if (POLICIES > 0) {
      // What (b) and (d) made the zone say (mTLS off leaves remote services unreachable) is not the policies'.
      const before = await cp.request<Complaints>('complaints', TIMEOUT_MS);
      if (complained(before)) console.error(`  (during (b) and (d): ${before.warnings} zone warnings, ${before.problemProxies} proxies with a new problem, e.g. ${before.examples[0] ?? ''})`);
      // (e) one policy change selecting 1% of the dataplanes: its connectionTimeout alternates.
      const [a, b] = SHARD_TIMEOUT_VALUES;
      out.policyChanges = await sampleChanges('policy-changes', (i) => cp.request<ChangeReply>('policy-change', TIMEOUT_MS, { connectionTimeout: i % 2 === 0 ? b : a }));
      // (f) a Mesh-targeted policy change, toggled MESH_CYCLES times.
      const [x, y] = MESH_TIMEOUT_VALUES;
      out.policyMesh = await sampleMeshWide('policy-mesh-wide', [
        { label: `MeshTimeout Mesh ${x} -> ${y}`, request: () => cp.request<WideReply>('policy-mesh', TIMEOUT_MS, { connectionTimeout: y }) },
        { label: `MeshTimeout Mesh ${y} -> ${x}`, request: () => cp.request<WideReply>('policy-mesh', TIMEOUT_MS, { connectionTimeout: x }) },
      ]);
    }
    console.error(`  (clock offsets: cp ${cpClock.offset.toFixed(3)} ms, clients ${clientClock.offset.toFixed(3)} ms (skew ${skew.toFixed(3)} ms, corrected); IPC rtt ${cpClock.rtt.toFixed(3)} / ${clientClock.rtt.toFixed(3)} ms)`);
    await client.request('close', TIMEOUT_MS);
    await cp.request('stop', TIMEOUT_MS);
    return out;
  } catch (err) {
    out.failed = describeFailure(err);
    return out;
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

async function baselineCell(n: number, m: MeshfedCell): Promise<BaselineCell> {
  const out: BaselineCell = { changes: [], policyChanges: [], mesh: new Map() };
  const procs: Proc[] = [];
  try {
    if (!m.initialPlan) throw new Error('no plan from the meshfed run');
    const srv = new Proc(`baseline-${n}`, BASELINE_HARNESS, {});
    procs.push(srv);
    const { port } = await srv.ready(SYNC_TIMEOUT_MS);
    const client = clientProc(`baseline-clients-${n}`, n);
    procs.push(client);
    await client.ready(SYNC_TIMEOUT_MS);
    const [srvClock, clientClock] = [await srv.clockOffset(), await client.clockOffset()];
    const onBench = (t: number, p: { offset: number }) => t - p.offset;

    const counts = await srv.request<Record<string, number>>('initial', SYNC_TIMEOUT_MS, { file: m.initialPlan });
    await client.request('arm', TIMEOUT_MS);
    const { startAt } = await client.request<{ startAt: number }>('connect', SYNC_TIMEOUT_MS, { port: port! });
    out.initial = await expectation(client, 'count', counts, SYNC_TIMEOUT_MS);
    if (!complete(out.initial, 'baseline initial')) throw new Error('baseline initial push incomplete');
    out.initialMs = out.initial.last - startAt;

    /** Writes one plan's frames to its streams; the latency, and the client's CPU until they all arrived. */
    const push = async (file: string): Promise<{ latency: number; clientCpuMs: number; serverCpuMs: number } | undefined> => {
      const expected = await srv.request<Record<string, number>>('load', TIMEOUT_MS, { file });
      await client.request('arm', TIMEOUT_MS);
      const [sv0, cl0] = [await srv.request<Usage>('usage', TIMEOUT_MS), await client.request<Usage>('usage', TIMEOUT_MS)];
      const { at } = await srv.request<{ at: number }>('push', TIMEOUT_MS);
      const e = await expectation(client, 'count', expected);
      const cl1 = await client.request<Usage>('usage', TIMEOUT_MS);
      // The server's CPU once the last ACKs are in, as the CP's is measured: until 300 ms without a response.
      await client.request('quiet', TIMEOUT_MS + 5000, { ms: 300, timeoutMs: TIMEOUT_MS });
      const sv1 = await srv.request<Usage>('usage', TIMEOUT_MS);
      if (!complete(e, 'baseline push')) return undefined;
      return { latency: onBench(e.last, clientClock) - onBench(at, srvClock), clientCpuMs: cl1.cpuMs - cl0.cpuMs, serverCpuMs: sv1.cpuMs - sv0.cpuMs };
    };
    for (const file of m.changes?.plans ?? []) {
      if (overBudget()) break;
      const l = await push(file);
      if (l !== undefined) out.changes.push(l.latency);
    }
    const replayWide = async (wide: readonly MeshWide[]) => {
      for (const mw of wide) {
        const ls: { latency: number; clientCpuMs: number; serverCpuMs: number }[] = [];
        for (const file of mw.plans) {
          const l = await push(file);
          if (l !== undefined) ls.push(l);
        }
        out.mesh.set(mw.label, ls);
      }
    };
    await replayWide(m.mesh);
    // (e) and (f) after (d), in the meshfed run's order.
    for (const file of m.policyChanges?.plans ?? []) {
      if (overBudget()) break;
      const l = await push(file);
      if (l !== undefined) out.policyChanges.push(l.latency);
    }
    await replayWide(m.policyMesh);
    await client.request('close', TIMEOUT_MS);
    return out;
  } catch (err) {
    out.failed = describeFailure(err);
    return out;
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

// ---------------------------------------------------------------------------------------------

export async function benchXds(): Promise<void> {
  started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'meshfed-bench-xds-'));
  const onSignal = () => {
    void killAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // However the waits add up, the bench ends: past the budget plus two minutes everything is killed.
  const watchdog = setTimeout(() => {
    console.error('xds bench: over its time budget; killing its processes');
    void killAll().finally(() => process.exit(1));
  }, BUDGET_MS + 120_000);
  watchdog.unref();
  try {
    console.log('xds benchmark: the zone CP\'s xDS reconciler and ADS server with real delta ADS streams (DeltaAggregatedResources) over gRPC on loopback');
    console.log(`topology: 1 mesh, builtin mTLS; N dataplanes over ${SERVICES} services (N/${SERVICES} instances each), each with 1 inbound and ${OUTBOUNDS} outbounds to other services;`);
    console.log(`  a remote ZoneIngress (zone-2) offering ${REMOTE_SHARED} of the local services and ${REMOTE_ONLY} services of its own (~9% of outbounds go there)${LOCAL_INGRESS ? '; this zone\'s own ZoneIngress (1 more stream)' : ''}`);
    if (POLICIES > 0) {
      console.log(`policies: ${POLICIES} of each of the 11 targetRef types (origin global), each selecting one shard of dataplanes (inbound tag ${SHARD_TAG}: service % ${SHARDS}, 1% of them),`);
      console.log('  `to` one MeshService the shard calls, `from` Mesh where the type has it; plus a Mesh-wide MeshTrafficPermission allowing everyone and the two MeshTimeouts (e) and (f) change;');
      console.log('  in the store before the reconciler\'s first run. The sidecars speak TCP: HTTP-only settings stay unapplied');
    }
    console.log(`processes (${cpus().length} cores, shared with the bench itself and anything else running; load avg ${load()} at start, node ${process.version}):`);
    console.log('  zone CP: MemoryStore + WorkloadCertificateCache + xDS reconciler + SnapshotCache + AdsServer (with Telemetry, log level warn)');
    console.log(`  proxies: one delta stream per proxy, ${PER_CHANNEL} streams per HTTP/2 connection, ${process.env.BENCH_XDS_CLIENT_IMPL === 'grpc-js' ? "grpc-js's client" : 'gRPC over node:http2 directly'} with Envoy's 256 MiB HTTP/2 windows;`);
    console.log('    like Envoy: CDS/LDS wildcard, SDS by name, EDS for the clusters received, every response ACKed');
    console.log('  baseline: bare grpc-js server writing precomputed DeltaDiscoveryResponse frames (the ones meshfed\'s snapshots give the same proxies) to the same N streams');
    console.log('a stream is done when what it holds (type, name, version of every resource) equals its snapshot in the zone CP (baseline: when it received its frames);');
    console.log('times are from the store commit (baseline: the first write) to the arrival of the response that completed the last stream, on one clock (offsets measured over IPC)\n');

    const cells: { n: number; m: MeshfedCell; b: BaselineCell | undefined; loadAfter: string }[] = [];
    for (const n of DATAPLANES) {
      console.error(`... ${n} dataplanes: meshfed (load ${load()})`);
      const m = PARTS.has('meshfed') ? await meshfedCell(n, dir) : { mesh: [], policyMesh: [], failed: 'skipped' };
      console.error(`... ${n} dataplanes: baseline (load ${load()})`);
      const b = PARTS.has('baseline') && !m.failed ? await baselineCell(n, m) : undefined;
      cells.push({ n, m, b, loadAfter: load() });
    }

    // (a) compute and memory
    console.log('(a) computing every snapshot: the reconciler\'s first full run (every certificate issued), then a full run with everything warm (the resync safety net);');
    console.log('    memory: V8 heap used + external (Buffers) after a full gc, in the CP process: with the Envoy protos loaded, + the store holding the topology,');
    console.log('    + the reconciler\'s state and every snapshot (first run), + N ADS streams connected and configured; RSS at the end of that');
    // With policies, two more columns: how many, and their part of the store's memory.
    const withPolicies = <T>(row: T[], count: T, mem: T): T[] => (POLICIES > 0 ? [...row.slice(0, 2), count, ...row.slice(2, 8), mem, ...row.slice(8)] : row);
    const a: string[][] = [withPolicies(['dataplanes', 'proxies', 'first run', 'its CPU', 'certs issued', 'warm full run', 'mem: protos', '+store', '+xDS', 'xDS/dp', '(ext)', '+streams', '/stream', 'CP mem/dp', 'CP RSS'], 'policies', '(policies)')];
    for (const { n, m } of cells) {
      const s = m.setup;
      if (!s) {
        a.push([String(n), m.failed ?? '-']);
        continue;
      }
      const xds = s.heapReconciled - s.heapStore;
      const streams = m.heapStreams !== undefined ? m.heapStreams - s.heapWarm : undefined;
      a.push(withPolicies([
        String(n), String(s.proxies), ms(s.firstRunMs), ms(s.firstCpuMs), String(s.certificatesIssued), ms(s.warmRunMs),
        mib(s.heapProtos), mib(s.heapStore - s.heapProtos), mib(xds), kib(Math.round(xds / n)), mib(s.externalXds),
        mib(streams), streams !== undefined ? kib(Math.round(streams / (n + (LOCAL_INGRESS ? 1 : 0)))) : '-',
        m.heapStreams !== undefined ? kib(Math.round((m.heapStreams - s.heapProtos) / n)) : '-', mib(m.rssStreams),
      ], String(s.policies), mib(s.heapStore - s.heapDataplanes)));
    }
    console.log(table(a));
    console.log('    (first run: the reconciler\'s own figure, from its start to every snapshot published; its CPU: the process\'s, helper threads included;');
    console.log('     xDS/dp: memory of the reconciler\'s state and snapshots per dataplane, target < 100 KiB, (ext): its external part;');
    console.log(`     /stream: the ADS server\'s and grpc-js\'s memory per connected stream; CP mem/dp: store + xDS + streams per dataplane, protos excluded${POLICIES > 0 ? ';' : ')\n'}`);
    if (POLICIES > 0) {
      console.log('     policies: in the store (of which (policies): their memory there); +xDS and CP mem/dp include the rules computed from them)');
      for (const { n, m } of cells) {
        const s = m.setup;
        if (!s) continue;
        if (s.unselected.length > 0) console.log(`    (${n}: ${s.unselected.length} policies do not select the proxies they were made for, e.g. ${s.unselected.slice(0, 3).join('; ')})`);
        if (complained(s.complaints)) console.log(`    (${n}: the zone complained at setup: ${s.complaints.warnings} warnings, ${s.complaints.problemProxies} proxies with a problem, e.g. ${s.complaints.examples.join(' | ')})`);
      }
      console.log('');
    }

    // (b) one Dataplane change
    console.log(`(b) one Dataplane moves to a new address (store commit) -> every affected proxy's stream holds its update; ${SAMPLES} sequential changes after ${WARMUP} warm-up`);
    /** (b), (e): one row per size, against the baseline's replay of the same plans. */
    const changesTable = (of: (m: MeshfedCell) => Changes | undefined, baseOf: (b: BaselineCell) => number[]): string => {
      const rows: string[][] = [['dataplanes', 'samples', 'affected', 'p50', 'p99', 'max', 'base p50', 'base p99', 'p50 ratio', 'reconcile p50', 'reconcile p99', 'CP CPU/change', 'client CPU/change', 'bytes/change', 'unexpected streams']];
      for (const { n, m, b: base } of cells) {
        const c = of(m);
        if (!c || c.latency.length === 0) {
          rows.push([String(n), m.failed ?? 'no samples']);
          continue;
        }
        const l = summarize(c.latency);
        const r = summarize(c.runMs);
        const bs = base ? baseOf(base) : [];
        const bl = bs.length > 0 ? summarize(bs) : undefined;
        rows.push([
          String(n), `${c.latency.length}${c.incomplete ? ` (+${c.incomplete} incomplete)` : ''}`, String(median(c.affected) ?? '-'),
          ms(l.p50), ms(l.p99), ms(maxOf(c.latency)), base?.failed ?? ms(bl?.p50), base?.failed ?? ms(bl?.p99), ratio(l.p50, bl?.p50),
          ms(r.p50), ms(r.p99), ms(c.cpCpuPerChange), ms(c.clientCpuPerChange), kib(median(c.bytes)), String(c.extra.reduce((s, x) => s + x, 0)),
        ]);
      }
      return table(rows);
    };
    console.log(changesTable((m) => m.changes, (b) => b.changes));
    console.log('    (affected: proxies whose snapshot changed, median per change: the moved dataplane, the callers of its service, this zone\'s ingress;');
    console.log('     reconcile: the reconciler\'s own run time, from the change event to every snapshot published; CPU: the process\'s user+system time per change');
    console.log('     (the CP\'s includes ACKs and the harness\'s own digests and baseline plans between samples);');
    console.log('     bytes/change: response bytes all streams received; unexpected streams: streams that received something without their snapshot changing, total)\n');

    // (c) bytes per proxy
    console.log('(c) one proxy\'s full configuration as received on its stream (DeltaDiscoveryResponse bytes, without the 5-byte gRPC prefix and HTTP/2 framing),');
    console.log('    and the time from opening all N streams at once to every one holding its full configuration');
    const cTable: string[][] = [['dataplanes', 'per dataplane p50', 'min', 'max', 'responses/dp', 'ingress', 'all streams', 'N streams: connect -> all configured', 'baseline', 'ratio']];
    for (const { n, m, b: base } of cells) {
      const i = m.initial;
      if (!i) {
        cTable.push([String(n), m.failed ?? '-']);
        continue;
      }
      cTable.push([
        String(n), kib(median(i.dpBytes)), kib(i.dpBytes[0]), kib(i.dpBytes.at(-1)), String(median(i.dpFrames) ?? '-'), kib(i.ingressBytes), mib(i.bytes),
        ms(m.initialMs), base?.failed ?? ms(base?.initialMs), ratio(m.initialMs, base?.initialMs),
      ]);
    }
    console.log(table(cTable));
    console.log('    (baseline: the same frames written on each stream\'s first request; meshfed also authenticates, waits for the EDS subscriptions, and ACKs are processed)\n');

    // (d) mesh-wide change
    console.log(`(d) a mesh-wide change: the Mesh's mTLS turned off, then on again (certificates still cached), ${MESH_CYCLES} times each;`);
    console.log('    from the Mesh\'s store commit to every proxy\'s stream holding its new configuration (target < 1 s)');
    /** (d), (f): one row per size and step, against the baseline's replay of the same plans. */
    const wideTable = (of: (m: MeshfedCell) => MeshWide[]): string => {
      const d: string[][] = [['dataplanes', 'change', 'samples', 'p50', 'max', 'reconcile p50', 'CP CPU', 'client CPU', 'proxies changed', 'bytes pushed', 'base p50', 'base max', 'p50 ratio', 'base server CPU', 'base client CPU']];
      for (const { n, m, b: base } of cells) {
        if (of(m).length === 0) {
          d.push([String(n), m.failed ?? '-']);
          continue;
        }
        for (const mw of of(m)) {
          const bl = base?.mesh.get(mw.label) ?? [];
          d.push([
            String(n), mw.label, `${mw.latency.length}${mw.incomplete ? ` (+${mw.incomplete} incomplete)` : ''}`, ms(median(mw.latency)), ms(maxOf(mw.latency)),
            ms(median(mw.runMs)), ms(median(mw.cpCpuMs)), ms(median(mw.clientCpuMs)), String(median(mw.changed) ?? '-'), mib(median(mw.bytes)),
            base?.failed ?? ms(median(bl.map((x) => x.latency))), base?.failed ?? ms(maxOf(bl.map((x) => x.latency))),
            ratio(median(mw.latency), median(bl.map((x) => x.latency))), base?.failed ?? ms(median(bl.map((x) => x.serverCpuMs))), base?.failed ?? ms(median(bl.map((x) => x.clientCpuMs))),
          ]);
        }
      }
      return table(d);
    };
    console.log(wideTable((m) => m.mesh));
    console.log('    (reconcile: the reconciler\'s own run time; CP / client CPU: each process\'s user+system time from the commit until no response arrived for 300 ms,');
    console.log('     ACKs included; proxies changed: snapshots republished; bytes pushed: response bytes all streams received; base server / client CPU: the baseline server\'s and the client\'s, baseline push)');

    if (POLICIES > 0) {
      const said = (what: string, of: (m: MeshfedCell) => (Complaints | undefined)[]) => {
        for (const { n, m } of cells) {
          const c = of(m).reduce<Complaints>((sum, x) => addComplaints(sum, x), noComplaints());
          if (complained(c)) console.log(`    (${n}, ${what}: the zone complained: ${c.warnings} warnings, ${c.problemProxies} proxies with a new problem, e.g. ${c.examples.join(' | ')})`);
        }
      };
      // (e) one policy change
      console.log(`\n(e) one policy change: the MeshTimeout selecting shard ${CHANGED_SHARD} (MeshSubset ${SHARD_TAG}=${CHANGED_SHARD}: 1% of the dataplanes) alternates its connectionTimeout`);
      console.log(`    (${SHARD_TIMEOUT_VALUES.join(' / ')}, \`from\` Mesh: their inbound); store commit -> every affected proxy's stream holds its update; ${SAMPLES} sequential changes after ${WARMUP} warm-up`);
      console.log(changesTable((m) => m.policyChanges, (b) => b.policyChanges));
      console.log('    (columns as in (b); affected: proxies whose snapshot changed, median per change; reconcile: the matching step runs again for the');
      console.log('     dataplane shapes the changed policy selects (the others keep their rules), then the proxies whose rules changed are generated)');
      said('(e)', (m) => [m.policyChanges?.complaints]);

      // (f) Mesh-targeted policy change
      console.log(`\n(f) a Mesh-targeted policy change: a MeshTimeout with targetRef Mesh, \`to\` Mesh, connectionTimeout toggled ${MESH_TIMEOUT_VALUES.join(' <-> ')}, ${MESH_CYCLES} times each;`);
      console.log('    from its store commit to every proxy\'s stream holding its new configuration (every dataplane\'s outbound clusters change)');
      console.log(wideTable((m) => m.policyMesh));
      console.log('    (columns as in (d))');
      said('(f)', (m) => m.policyMesh.map((w) => w.complaints));
    }
    console.log(`    (load avg after each size: ${cells.map((c) => `${c.n}: ${c.loadAfter}`).join('; ')}; total ${((performance.now() - started) / 1000).toFixed(0)} s)`);
    if (overBudget()) console.log(`    (the ${BUDGET_MS / 1000} s budget ran out: some parts took fewer samples than asked, as the counts say)`);
  } finally {
    clearTimeout(watchdog);
    await killAll();
    rmSync(dir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
