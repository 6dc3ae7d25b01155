// `npm run bench -- proxyless`: meshfed serving proxyless gRPC apps (grpc-js + @grpc/grpc-js-xds 1.14),
// with every part in its own OS process as shipped: a global CP, zone CPs federated to it (default
// proxy authentication: dataplane tokens; xDS over TLS), `meshfed-dp run --proxyless` agents, the demo
// Echo app as XdsServers, and the load in harness processes. The mesh: builtin mTLS, an allow-all
// MeshTrafficPermission (RBAC on every server), the default MeshRetry and MeshCircuitBreaker removed.
// Figures:
//   (a) unary Echo calls from a proxyless client (its own agent, xds:///backend; a MeshHTTPRoute sends
//       every call to backend v1) to the XdsServer backend-v1 with mesh mTLS and RBAC, p50/p99 and
//       calls/s, sequential and with CONCURRENCY in flight, against a baseline in the same run: a plain
//       grpc-js channel straight to the same server with the same mesh certificate (the agent's
//       --work-dir: ca.pem, key.pem, cert.pem; the server's certificate names a SPIFFE URI, so the
//       channel's host name check is skipped, its chain still checked against the mesh CA);
//   (b) a MeshHTTPRoute change PUT on global (all traffic flipped between backend v1 and v2) -> every
//       new call following it: calls start every FIRE_INTERVAL_MS on the xDS channel; the figure is the
//       start of the first call after which every call (for SETTLE_MS) followed the new route, minus
//       the PUT's start (resolution: the interval), ROUTE_SAMPLES flips, p50/p99;
//   (c) the zone CP's memory and CPU per proxyless client at CLIENTS clients: as many ADS streams to a
//       fresh zone, each behaving as an agent with a grpc-js-xds app behind it (state of the world, the
//       agent's node and Dataplane, its own token; LDS by name for the client's target and the server's
//       Listener, CDS and EDS by the names received, every response ACKed: proxyless-streams-harness.ts),
//       against a baseline in the same run: a second fresh zone with the same clients as Envoy sidecars
//       (Dataplanes PUT on its API, one delta stream each, as the xds bench's). The zone's RSS and heap
//       (used + external, after a full gc in it) before the clients and once every client converged and
//       the zone went quiet; its CPU from the first registration to then; its CPU idle afterwards.
// Knobs: BENCH_PROXYLESS_PARTS=calls,route,clients BENCH_PROXYLESS_SEQ_CALLS=3000 (per path)
// BENCH_PROXYLESS_CONC_CALLS=20000 (per path) BENCH_PROXYLESS_CONCURRENCY=50 BENCH_PROXYLESS_ROUNDS=3
// (each path's calls split into rounds, paths alternating, so that drift hits both) BENCH_PROXYLESS_WARMUP=500
// BENCH_PROXYLESS_ROUTE_SAMPLES=10 BENCH_PROXYLESS_FIRE_INTERVAL_MS=2 BENCH_PROXYLESS_SETTLE_MS=500
// BENCH_PROXYLESS_CLIENTS=1000 BENCH_PROXYLESS_SERVICES=10 (the clients' services, proxyless-topology.ts)
// BENCH_PROXYLESS_STREAMS_PER_CONNECTION=1 BENCH_PROXYLESS_IDLE_S=5 BENCH_PROXYLESS_QUIET_MS=1000
// BENCH_PROXYLESS_TIMEOUT_MS=30000 (one convergence, one start) BENCH_PROXYLESS_SYNC_TIMEOUT_MS=120000
// (every client converged) BENCH_PROXYLESS_BUDGET_S=240 (past it, sampling stops early and says so; past
// it plus two minutes everything is killed) BENCH_PROXYLESS_VERBOSE=1 (children's output on stderr)
// BENCH_PROXYLESS_CPU_PROF=DIR (V8 CPU profiles of the harness processes) BENCH_PROXYLESS_ZONE_CPU_PROF=DIR (of
// each zone CP, its whole life).
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPoliciesFor } from '@meshfed/shared';
import type { FlipResult, RunResult } from './proxyless-caller-harness.js';
import {
  applyPolicy, del, type Cp, type Daemon, getJson, policyUrl, put, request, startEchoApp, startGlobal, startMember, startZone, type ZoneCp, zoneUsage, type ZoneUsage,
} from './proxyless-stage.js';
import type { ExpectResult, StreamsHarnessConfig } from './proxyless-streams-harness.js';
import { grpcService, MESH } from './proxyless-topology.js';
import { killAll, Proc, sleep, wall } from './xds-proc.js';
import { fmt, summarize, table } from './stats.js';

const int = (name: string, def: number, min = 1) => {
  const v = process.env[name];
  const n = Number(v);
  return v !== undefined && Number.isInteger(n) && n >= min ? n : def;
};
const PARTS = new Set((process.env.BENCH_PROXYLESS_PARTS ?? 'calls,route,clients').split(',').map((s) => s.trim()));
const SEQ_CALLS = int('BENCH_PROXYLESS_SEQ_CALLS', 3000);
const CONC_CALLS = int('BENCH_PROXYLESS_CONC_CALLS', 20_000);
const CONCURRENCY = int('BENCH_PROXYLESS_CONCURRENCY', 50);
const ROUNDS = int('BENCH_PROXYLESS_ROUNDS', 3);
const WARMUP = int('BENCH_PROXYLESS_WARMUP', 500, 0);
const ROUTE_SAMPLES = int('BENCH_PROXYLESS_ROUTE_SAMPLES', 10);
const FIRE_INTERVAL_MS = int('BENCH_PROXYLESS_FIRE_INTERVAL_MS', 2);
const SETTLE_MS = int('BENCH_PROXYLESS_SETTLE_MS', 500);
const CLIENTS = int('BENCH_PROXYLESS_CLIENTS', 1000);
const SERVICES = int('BENCH_PROXYLESS_SERVICES', 10);
const PER_CONNECTION = int('BENCH_PROXYLESS_STREAMS_PER_CONNECTION', 1);
const IDLE_S = int('BENCH_PROXYLESS_IDLE_S', 5, 0);
const QUIET_MS = int('BENCH_PROXYLESS_QUIET_MS', 1000);
const TIMEOUT_MS = int('BENCH_PROXYLESS_TIMEOUT_MS', 30_000);
const SYNC_TIMEOUT_MS = int('BENCH_PROXYLESS_SYNC_TIMEOUT_MS', 120_000);
const BUDGET_MS = int('BENCH_PROXYLESS_BUDGET_S', 240) * 1000;

/** The Echo service the members serve, its versions (MeshServiceSubset by `version`), and the zone of (a) and (b). */
const BACKEND = 'backend';
const VERSIONS = ['v1', 'v2'] as const;
const CALLS_ZONE = 'zone-1';
const ROUTE = 'backend-flip';
/** Calls of (a) give up after this; none should come near it. */
const CALL_DEADLINE_MS = 5000;
/** (b): calls in flight at most, so that a stalled channel does not pile calls up. */
const FIRE_MAX_IN_FLIGHT = 50;
/** (c): how often the bench asks the zone how many Dataplanes it lists, while the clients connect. */
const REGISTERED_POLL_MS = 50;
const HARNESS_KNOBS = { cpuProfEnv: 'BENCH_PROXYLESS_CPU_PROF', verboseEnv: 'BENCH_PROXYLESS_VERBOSE' };

const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : fmt(x));
const mib = (b: number | undefined) => (b === undefined ? '-' : `${(b / 1024 / 1024).toFixed(1)} MiB`);
const kib = (b: number | undefined) => (b === undefined ? '-' : `${(b / 1024).toFixed(1)} KiB`);
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}x` : '-');
const p = (xs: readonly number[], q: 'p50' | 'p99') => (xs.length === 0 ? undefined : summarize([...xs])[q]);
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

/** Every daemon started: what they logged as warnings or errors is said at the end. */
const seen: Daemon[] = [];

let started = 0;
const overBudget = () => performance.now() - started > BUDGET_MS;
let budgetCut = false;
/** Stops sampling past the budget, once it has at least `min` samples; remembers that it did. */
function budgetLeft(done: number, min = 1): boolean {
  if (done < min || !overBudget()) return true;
  budgetCut = true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// the mesh

async function prepareMesh(global: Cp): Promise<void> {
  // Builtin mTLS: the members' certificates, the servers' RBAC.
  await put(`${global.url}/meshes/${MESH}`, { type: 'Mesh', name: MESH, mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } });
  // The mesh's default retry and circuit breaker would add retries and ejection to what is measured.
  for (const d of defaultPoliciesFor(MESH).create) {
    if (d.type === 'MeshRetry' || d.type === 'MeshCircuitBreaker') await del(policyUrl(global, d.type, d.name));
  }
  // With mTLS nobody is let in without a MeshTrafficPermission: every server gets this one as RBAC.
  await applyPolicy(global, 'MeshTrafficPermission', 'allow-all', { targetRef: { kind: 'Mesh' }, from: [{ targetRef: { kind: 'Mesh' }, default: { action: 'Allow' } }] });
  await routeTo(global, 'v1');
}

/** Every call to backend goes to the instances of one version. */
function routeTo(global: Cp, version: string): Promise<void> {
  return applyPolicy(global, 'MeshHTTPRoute', ROUTE, {
    targetRef: { kind: 'Mesh' },
    to: [{
      targetRef: { kind: 'MeshService', name: BACKEND },
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], default: { backendRefs: [{ kind: 'MeshServiceSubset', name: BACKEND, tags: { version }, weight: 100 }] } }],
    }],
  });
}

// ---------------------------------------------------------------------------------------------
// (a), (b)

type Path = 'xds' | 'direct';
interface Calls {
  samples: number[];
  totalMs: number;
  n: number;
  failures: number;
  firstFailure?: string;
  versions: Record<string, number>;
}
const noCalls = (): Calls => ({ samples: [], totalMs: 0, n: 0, failures: 0, versions: {} });
function addRun(c: Calls, r: RunResult): void {
  c.samples.push(...r.samples);
  c.totalMs += r.totalMs;
  c.n += r.samples.length + r.failures;
  c.failures += r.failures;
  c.firstFailure ??= r.firstFailure;
  for (const [v, k] of Object.entries(r.versions)) c.versions[v] = (c.versions[v] ?? 0) + k;
}

interface Flip {
  want: string;
  putMs: number;
  firstNewMs?: number;
  allNewMs?: number;
  old: number;
  failed: number;
  firstFailure?: string;
}

interface CallsPart {
  seq: Record<Path, Calls>;
  conc: Record<Path, Calls>;
  flips: Flip[];
  waitedMs?: number;
  failed?: string;
}

async function callsAndRoutes(global: Cp & { kdsPort: number }, dir: string): Promise<CallsPart> {
  const out: CallsPart = { seq: { xds: noCalls(), direct: noCalls() }, conc: { xds: noCalls(), direct: noCalls() }, flips: [] };
  const stopping: (() => Promise<void>)[] = [];
  try {
    const zone = await startZone(global, CALLS_ZONE, dir);
    seen.push(zone.daemon);
    stopping.push(() => zone.daemon.stop());
    const [web, ...backends] = await Promise.all([
      startMember(zone, dir, 'web', grpcService('web')),
      ...VERSIONS.map((v) => startMember(zone, dir, `${BACKEND}-${v}`, { ...grpcService(BACKEND), version: v })),
    ]);
    for (const m of [web!, ...backends]) {
      seen.push(m.agent);
      stopping.unshift(() => m.agent.stop());
    }
    const apps = await Promise.all(backends.map((m, i) => startEchoApp(m, { service: BACKEND, version: VERSIONS[i]!, zone: CALLS_ZONE })));
    for (const a of apps) {
      seen.push(a);
      stopping.unshift(() => a.stop());
    }
    const v1 = backends[0]!;
    const caller = new Proc('caller', './proxyless-caller-harness.ts', {
      GRPC_XDS_BOOTSTRAP: web!.bootstrapFile,
      BENCH_PROXYLESS_CALLER: JSON.stringify({ xdsTarget: `xds:///${BACKEND}`, directTarget: `127.0.0.1:${v1.port}`, workDir: web!.workDir }),
    }, [], HARNESS_KNOBS);
    stopping.unshift(() => caller.stop());
    await caller.ready(TIMEOUT_MS);
    // The client's first call resolves the route, clusters and endpoints through its agent.
    out.waitedMs = await caller.request<number>('wait', TIMEOUT_MS + 5000, { version: 'v1', timeoutMs: TIMEOUT_MS });
    // A run never outlasts the bench's budget; each call's own deadline keeps a stalled one short anyway.
    const run = (path: Path, n: number, concurrency: number) => caller.request<RunResult>('run', BUDGET_MS + TIMEOUT_MS, { path, n, concurrency, deadlineMs: CALL_DEADLINE_MS });

    if (PARTS.has('calls')) {
      console.error(`... (a) calls (load ${load()})`);
      for (const path of ['xds', 'direct'] as const) {
        await run(path, WARMUP, 1);
        await run(path, WARMUP, CONCURRENCY);
      }
      for (let r = 0; r < ROUNDS && budgetLeft(r); r++) {
        const order: Path[] = r % 2 === 0 ? ['xds', 'direct'] : ['direct', 'xds'];
        for (const path of order) addRun(out.seq[path], await run(path, Math.ceil(SEQ_CALLS / ROUNDS), 1));
        for (const path of order) addRun(out.conc[path], await run(path, Math.ceil(CONC_CALLS / ROUNDS), CONCURRENCY));
      }
    }

    if (PARTS.has('route')) {
      console.error(`... (b) route flips (load ${load()})`);
      const { offset } = await caller.clockOffset();
      await caller.request('fire-start', TIMEOUT_MS, { intervalMs: FIRE_INTERVAL_MS, maxInFlight: FIRE_MAX_IN_FLIGHT, deadlineMs: CALL_DEADLINE_MS });
      let current = 'v1';
      for (let i = 0; i < ROUTE_SAMPLES && budgetLeft(i); i++) {
        const want = current === 'v1' ? 'v2' : 'v1';
        const t0 = wall();
        await routeTo(global, want);
        const putMs = wall() - t0;
        const f = await caller.request<FlipResult>('flip', TIMEOUT_MS + 5000, { t0: t0 + offset, want, settleMs: SETTLE_MS, timeoutMs: TIMEOUT_MS });
        const onBench = (x: number | undefined) => (x === undefined ? undefined : x - offset - t0);
        out.flips.push({
          want, putMs, old: f.old, failed: f.failed, ...(f.firstFailure !== undefined ? { firstFailure: f.firstFailure } : {}),
          ...(f.firstNewAt !== undefined ? { firstNewMs: onBench(f.firstNewAt)! } : {}), ...(f.allNewAt !== undefined ? { allNewMs: onBench(f.allNewAt)! } : {}),
        });
        if (!f.converged) {
          console.error(`  (flip ${i + 1} to ${want}: calls did not all follow it within ${TIMEOUT_MS} ms)`);
          break;
        }
        current = want;
      }
      await caller.request('fire-stop', TIMEOUT_MS);
    }
  } catch (err) {
    out.failed = (err as Error).message;
    console.error(`  (a)/(b) failed: ${out.failed}`);
  } finally {
    for (const stop of stopping) await stop().catch(() => undefined);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// (c)

interface ClientsCell {
  kind: 'proxyless' | 'sidecar';
  tokensMs?: number;
  registerMs?: number;
  connections?: number;
  /** From the first registration (sidecar: the first PUT; proxyless: the streams opening) to the last client converged. */
  allConvergedMs?: number;
  /** From the same start to the zone's API listing every client's Dataplane (polled every REGISTERED_POLL_MS). */
  allRegisteredMs?: number;
  result?: ExpectResult;
  quiet?: boolean;
  before?: ZoneUsage;
  /** Right after quiet (CPU), and after a full gc (memory). */
  after?: ZoneUsage;
  afterGc?: ZoneUsage;
  idleCpuMsPerS?: number;
  clientCpuMs?: number;
  dataplanes?: number;
  nacks?: number;
  refused?: number;
  failed?: string;
}

/** The sum of a Prometheus counter over its label sets. */
async function metricSum(zone: ZoneCp, name: string): Promise<number> {
  const text = await (await request(`${zone.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(' ').pop());
  return sum;
}

async function clientsCell(global: Cp & { kdsPort: number }, kind: 'proxyless' | 'sidecar', dir: string): Promise<ClientsCell> {
  const out: ClientsCell = { kind };
  let zone: ZoneCp | undefined;
  let streams: Proc | undefined;
  try {
    zone = await startZone(global, kind === 'proxyless' ? 'zone-pl' : 'zone-sc', dir);
    seen.push(zone.daemon);
    const cfg: StreamsHarnessConfig = {
      kind, n: CLIENTS, services: SERVICES, zone: zone.zone, zoneUrl: zone.url, xdsAddress: `${zone.xds.host}:${zone.xds.port}`,
      ...(zone.xdsCaPem !== undefined ? { caPem: zone.xdsCaPem } : {}), streamsPerConnection: PER_CONNECTION,
    };
    streams = new Proc(`streams-${kind}`, './proxyless-streams-harness.ts', { BENCH_PROXYLESS_STREAMS: JSON.stringify(cfg) }, [], HARNESS_KNOBS);
    await streams.ready(TIMEOUT_MS);
    out.tokensMs = (await streams.request<{ ms: number }>('tokens', SYNC_TIMEOUT_MS)).ms;
    // What the zone holds with the mesh and its policies, before any client.
    out.before = await zoneUsage(zone, true);
    const client0 = await streams.request<{ cpuMs: number }>('usage', TIMEOUT_MS);
    const { offset } = await streams.clockOffset();
    // When the zone lists every Dataplane: for proxyless clients, registered by their streams.
    const z = zone;
    const registered = (async () => {
      const deadline = performance.now() + SYNC_TIMEOUT_MS;
      while (performance.now() < deadline) {
        const total = (await getJson<{ total: number }>(`${z.url}/meshes/${MESH}/dataplanes?size=1`)).total;
        if (total >= CLIENTS) return wall();
        await sleep(REGISTERED_POLL_MS);
      }
      return undefined;
    })();
    registered.catch(() => undefined);
    let from: number | undefined;
    if (kind === 'sidecar') {
      const r = await streams.request<{ ms: number; startAt: number }>('register', SYNC_TIMEOUT_MS);
      out.registerMs = r.ms;
      from = r.startAt;
    }
    const c = await streams.request<{ startAt: number; connections: number }>('connect', SYNC_TIMEOUT_MS);
    out.connections = c.connections;
    from ??= c.startAt;
    out.result = await streams.request<ExpectResult>('expect', SYNC_TIMEOUT_MS + 5000, { timeoutMs: SYNC_TIMEOUT_MS });
    const registeredAt = await registered;
    if (registeredAt !== undefined) out.allRegisteredMs = registeredAt - (from - offset);
    if (out.result.converged === CLIENTS) out.allConvergedMs = out.result.last - from;
    else console.error(`  (${kind}: ${out.result.converged}/${CLIENTS} clients converged; e.g. ${out.result.missing.join(' | ')}${out.result.firstError ? `; stream error: ${out.result.firstError}` : ''})`);
    out.quiet = await streams.request<boolean>('quiet', TIMEOUT_MS + 5000, { ms: QUIET_MS, timeoutMs: TIMEOUT_MS });
    out.after = await zoneUsage(zone, false);
    out.clientCpuMs = (await streams.request<{ cpuMs: number }>('usage', TIMEOUT_MS)).cpuMs - client0.cpuMs;
    out.afterGc = await zoneUsage(zone, true);
    out.dataplanes = (await getJson<{ total: number }>(`${zone.url}/meshes/${MESH}/dataplanes?size=1`)).total;
    if (IDLE_S > 0) {
      const i0 = await zoneUsage(zone, false);
      await sleep(IDLE_S * 1000);
      const i1 = await zoneUsage(zone, false);
      out.idleCpuMsPerS = (i1.cpuMs - i0.cpuMs) / IDLE_S;
    }
    out.nacks = await metricSum(zone, 'meshfed_xds_nacks_total');
    out.refused = await metricSum(zone, 'meshfed_xds_streams_refused_total');
    await streams.request('close', TIMEOUT_MS);
  } catch (err) {
    out.failed = (err as Error).message;
    console.error(`  (c) ${kind} failed: ${out.failed}`);
  } finally {
    await streams?.stop();
    await zone?.daemon.stop();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

export async function benchProxyless(): Promise<void> {
  started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'meshfed-bench-proxyless-'));
  const onSignal = () => {
    void killAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // However the waits add up, the bench ends: past the budget plus two minutes everything is killed.
  const watchdog = setTimeout(() => {
    console.error('proxyless bench: over its time budget; killing its processes');
    void killAll().finally(() => process.exit(1));
  }, BUDGET_MS + 120_000);
  watchdog.unref();
  let global: Daemon | undefined;
  try {
    console.log('proxyless benchmark: meshfed serving proxyless gRPC apps (grpc-js + @grpc/grpc-js-xds 1.14), every part in its own OS process as shipped');
    console.log('stage: a global CP and zone CPs federated to it over KDS (proxy authentication by dataplane token, the default; xDS over TLS from the zone\'s own CA);');
    console.log('  mesh default with builtin mTLS, an allow-all MeshTrafficPermission (RBAC on every server), the default MeshRetry and MeshCircuitBreaker removed');
    console.log(`processes: ${cpus().length} cores shared by everything (and anything else running); load avg ${load()} at start; node ${process.version}\n`);

    const g = await startGlobal();
    global = g.daemon;
    await prepareMesh(g);

    const callsPart = PARTS.has('calls') || PARTS.has('route') ? await callsAndRoutes(g, dir) : undefined;
    const loadAfterCalls = load();
    const cells: ClientsCell[] = [];
    if (PARTS.has('clients')) {
      for (const kind of ['proxyless', 'sidecar'] as const) {
        console.error(`... (c) ${CLIENTS} ${kind} clients (load ${load()})`);
        cells.push(await clientsCell(g, kind, dir));
      }
    }

    if (callsPart && PARTS.has('calls')) {
      console.log(`(a) unary Echo calls, client -> backend-v1 (XdsServer: mesh mTLS, RBAC); ${SEQ_CALLS} sequential and ${CONC_CALLS} with ${CONCURRENCY} in flight per path,`);
      console.log(`    in ${ROUNDS} rounds alternating the paths, after ${WARMUP} warm-up calls of each kind (the client's very first xDS call, listener, clusters and endpoints`);
      console.log(`    fetched through its agent, was answered after ${ms(callsPart.waitedMs)})`);
      console.log('    meshfed: grpc-js-xds channel xds:///backend, configured through the client\'s meshfed-dp agent (MeshHTTPRoute: all calls to backend v1)');
      console.log('    direct (baseline): plain grpc-js channel to 127.0.0.1:<backend-v1 port>, credentials.createSsl with the agent\'s ca.pem, key.pem, cert.pem;');
      console.log('      checkServerIdentity overridden (the server\'s certificate names spiffe://default/backend, no address); the chain is still checked against the mesh CA');
      const rows: string[][] = [['mode', 'path', 'calls', 'failed', 'answered by', 'p50', 'p99', 'mean', 'calls/s', 'p50 vs direct', 'p99 vs direct', 'calls/s vs direct']];
      for (const [mode, of] of [['sequential', callsPart.seq], [`${CONCURRENCY} in flight`, callsPart.conc]] as const) {
        for (const path of ['xds', 'direct'] as const) {
          const c = of[path];
          if (c.n === 0) {
            rows.push([mode, path, callsPart.failed ? 'failed' : 'no calls']);
            continue;
          }
          const s = summarize(c.samples);
          const d = of.direct;
          const rate = (x: Calls) => (x.totalMs > 0 ? (x.n / x.totalMs) * 1000 : undefined);
          rows.push([
            mode, path === 'xds' ? 'meshfed (xds:///)' : 'direct', String(c.n), `${c.failures}${c.firstFailure ? ` (${c.firstFailure.slice(0, 60)})` : ''}`,
            Object.entries(c.versions).map(([v, k]) => `${v}: ${k}`).join(', '), ms(s.p50), ms(s.p99), ms(s.mean), String(Math.round(rate(c) ?? 0)),
            path === 'xds' ? ratio(s.p50, p(d.samples, 'p50')) : '', path === 'xds' ? ratio(s.p99, p(d.samples, 'p99')) : '', path === 'xds' ? ratio(rate(c), rate(d)) : '',
          ]);
        }
      }
      console.log(table(rows));
      console.log('    (latency: one call, from the client\'s call to its answer, in the client process; calls/s: calls over the wall time of the runs)\n');
    }

    if (callsPart && PARTS.has('route')) {
      const f = callsPart.flips;
      const all = f.flatMap((x) => (x.allNewMs !== undefined ? [x.allNewMs] : []));
      const first = f.flatMap((x) => (x.firstNewMs !== undefined ? [x.firstNewMs] : []));
      const puts = f.map((x) => x.putMs);
      console.log(`(b) a MeshHTTPRoute change on global (all of backend's traffic flipped between v1 and v2), PUT -> every new call following it;`);
      console.log(`    calls on the xDS channel start every ${FIRE_INTERVAL_MS} ms (at most ${FIRE_MAX_IN_FLIGHT} in flight); a flip is done at the start of the first call after which`);
      console.log(`    every call, for ${SETTLE_MS} ms, was answered by the new version (path: global store -> KDS -> zone -> xDS -> agent -> grpc-js-xds)`);
      console.log(table([
        ['flips', 'PUT answered p50', 'first new call p50', 'p99', 'all new calls p50', 'p99', 'max', 'old-route calls/flip p50', 'failed calls'],
        [
          `${all.length}${f.length > all.length ? ` (+${f.length - all.length} not converged)` : ''}${callsPart.failed && f.length === 0 ? ' (failed)' : ''}`,
          ms(p(puts, 'p50')), ms(p(first, 'p50')), ms(p(first, 'p99')), ms(p(all, 'p50')), ms(p(all, 'p99')), ms(all.length ? Math.max(...all) : undefined),
          String(p(f.map((x) => x.old), 'p50') ?? '-'), `${f.reduce((s, x) => s + x.failed, 0)}${f.find((x) => x.firstFailure)?.firstFailure ? ` (${f.find((x) => x.firstFailure)!.firstFailure!.slice(0, 80)})` : ''}`,
        ],
      ]));
      console.log('    (times from the start of the PUT, on one clock (offset measured over IPC); first new call: the first call after the PUT answered by the new version;');
      console.log(`     old-route calls: calls started after the PUT still answered by the old version; resolution: ${FIRE_INTERVAL_MS} ms)\n`);
    }
    if (callsPart?.failed) console.log(`    ((a)/(b) failed: ${callsPart.failed.split('\n')[0]})\n`);

    if (cells.length > 0) {
      console.log(`(c) the zone CP per client at ${CLIENTS} clients over ${SERVICES} gRPC services (client i: an instance of svc-(i % ${SERVICES}), calling svc-(i+1 % ${SERVICES}));`);
      console.log(`    one fresh zone per row, each client with its own dataplane token and its own ${PER_CONNECTION === 1 ? 'TLS connection' : `TLS connection per ${PER_CONNECTION} streams`}; all streams opened at once`);
      console.log('    proxyless: a SotW stream as meshfed-dp + grpc-js-xds send it: the agent\'s node carrying the Dataplane (the zone registers it for the stream\'s life),');
      console.log('      SDS for the mesh certificates (the agent), LDS by name for xds:///svc-K and the server Listener, then CDS and EDS by the names received (the app)');
      console.log(`    sidecar (baseline): the same Dataplanes as Envoy sidecars, PUT on the zone's API with an outbound to each of the ${SERVICES} services (what a proxyless`);
      console.log('      app is generated for too), then one delta stream each (CDS, LDS wildcard, SDS by name, EDS for the EDS clusters), as the xds bench\'s proxies');
      console.log('    configured: holding every type asked for; converged: and every endpoint set holding every instance of its service (the final state)');
      const byKind = (k: string) => cells.find((c) => c.kind === k && !c.failed);
      const pl = byKind('proxyless');
      const sc = byKind('sidecar');
      const t: string[][] = [['clients', 'tokens issued', 'API PUTs', '-> all registered', 'configured', 'converged', 'per client configured p50', 'p99', 'converged p50', 'p99', '-> all converged', 'responses', 'bytes', 'dataplanes in zone', 'NACKs', 'refused']];
      for (const c of cells) {
        const r = c.result;
        if (!r) {
          t.push([c.kind, `failed: ${c.failed?.split('\n')[0] ?? '-'}`]);
          continue;
        }
        t.push([
          c.kind, ms(c.tokensMs), c.kind === 'sidecar' ? ms(c.registerMs) : '(on the stream)', ms(c.allRegisteredMs), `${r.configured}/${r.expected}`, `${r.converged}/${r.expected}`,
          ms(p(r.configuredMs, 'p50')), ms(p(r.configuredMs, 'p99')), ms(p(r.convergedMs, 'p50')), ms(p(r.convergedMs, 'p99')), ms(c.allConvergedMs),
          String(r.responses), mib(r.bytes), String(c.dataplanes ?? '-'), String(c.nacks ?? '-'), String(c.refused ?? '-'),
        ]);
      }
      if (pl?.result && sc?.result) {
        t.push(['proxyless / sidecar', '', '', ratio(pl.allRegisteredMs, sc.allRegisteredMs), '', '', ratio(p(pl.result.configuredMs, 'p50'), p(sc.result.configuredMs, 'p50')), '', ratio(p(pl.result.convergedMs, 'p50'), p(sc.result.convergedMs, 'p50')), '', ratio(pl.allConvergedMs, sc.allConvergedMs), ratio(pl.result.responses, sc.result.responses), ratio(pl.result.bytes, sc.result.bytes)]);
      }
      console.log(table(t));
      console.log('    (per client: from opening its stream; -> all registered / converged: from the first registration (sidecar: the first PUT, proxyless: the streams');
      console.log(`     opening) to the zone's API listing every Dataplane (polled every ${REGISTERED_POLL_MS} ms) / to the last client converged; responses, bytes: all the zone sent`);
      console.log('     until then and through the quiet period; NACKs, refused: the zone\'s own counters)\n');

      console.log(`    the zone CP process: memory after a full gc in it (RSS; heap: V8 heap used + external), before the clients and once they converged and no response`);
      console.log(`    went out for ${QUIET_MS} ms; CPU (user + system, all its threads) from the first registration to then; CPU with every client connected, idle, over ${IDLE_S} s`);
      const m: string[][] = [['clients', 'RSS before', 'RSS after', 'RSS/client', 'heap before', 'heap after', 'heap/client', 'CPU to converge', 'CPU/client', 'idle CPU', 'idle CPU/client', 'load generator CPU']];
      const per = (c: ClientsCell) => {
        if (!c.before || !c.afterGc || !c.after) return undefined;
        const heap = (u: ZoneUsage) => u.heapUsed + u.external;
        return {
          rss: (c.afterGc.rss - c.before.rss) / CLIENTS, heap: (heap(c.afterGc) - heap(c.before)) / CLIENTS, heapBefore: heap(c.before), heapAfter: heap(c.afterGc),
          cpu: c.after.cpuMs - c.before.cpuMs,
        };
      };
      for (const c of cells) {
        const x = per(c);
        if (!x) {
          m.push([c.kind, `failed: ${c.failed?.split('\n')[0] ?? '-'}`]);
          continue;
        }
        m.push([
          c.kind, mib(c.before!.rss), mib(c.afterGc!.rss), kib(x.rss), mib(x.heapBefore), mib(x.heapAfter), kib(x.heap), ms(x.cpu), ms(x.cpu / CLIENTS),
          c.idleCpuMsPerS === undefined ? '-' : `${ms(c.idleCpuMsPerS)}/s`, c.idleCpuMsPerS === undefined ? '-' : `${((c.idleCpuMsPerS / CLIENTS) * 1000).toFixed(2)}µs/s`,
          ms(c.clientCpuMs),
        ]);
      }
      const a = pl ? per(pl) : undefined;
      const b = sc ? per(sc) : undefined;
      if (a && b) m.push(['proxyless / sidecar', '', '', ratio(a.rss, b.rss), '', '', ratio(a.heap, b.heap), ratio(a.cpu, b.cpu), ratio(a.cpu, b.cpu), ratio(pl!.idleCpuMsPerS, sc!.idleCpuMsPerS), '', '']);
      console.log(table(m));
      console.log('    (the zone runs as shipped, plus a preloaded probe answering memoryUsage/cpuUsage over IPC (proxyless-zone-probe.mjs) and --expose-gc;');
      console.log('     CPU to converge includes the quiet period and the TLS handshakes, token checks, registrations (store, KDS to global), generation, pushes and ACKs;');
      console.log('     load generator CPU: the streams\' process over the same time, on the same cores; RSS keeps what the process took at its peak and moves by');
      console.log('     tens of MiB between runs: heap after a full gc is the figure to compare; idle CPU includes whatever the zone still exchanges with global)');
      for (const c of cells) if (c.quiet === false) console.log(`    (${c.kind}: the zone was still sending ${TIMEOUT_MS} ms after the clients converged: memory and CPU were read anyway)`);
    }
    for (const d of [global, ...seen]) {
      if (d && d.warnings.count > 0) console.log(`    (${d.name} logged ${d.warnings.count} warnings or errors, e.g. ${d.warnings.examples.join(' | ')})`);
    }
    console.log(`\n    (load avg after (a)/(b): ${loadAfterCalls}; at the end: ${load()}; total ${((performance.now() - started) / 1000).toFixed(0)} s)`);
    if (budgetCut) console.log(`    (the ${BUDGET_MS / 1000} s budget ran out: some parts took fewer samples than asked, as the counts say)`);
  } finally {
    clearTimeout(watchdog);
    await global?.stop();
    await killAll();
    rmSync(dir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
