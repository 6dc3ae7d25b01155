// `npm run bench -- kds`: propagation from a PUT on global to every zone's store, and reconnect
// resyncs, with meshfed's global and zones each in its own OS process; against a baseline measured in
// the same run (a bare node http server forwarding the body over one grpc-js stream per zone process).
// Knobs: BENCH_KDS_ZONES=1,5,10 BENCH_KDS_RESOURCES=1000,10000 BENCH_KDS_SAMPLES=100 BENCH_KDS_WARMUP=10
// BENCH_KDS_PARTS=latency,baseline,reconnect BENCH_KDS_RECONNECT_ZONES=1,10 BENCH_KDS_RECONNECT_CHANGES=0,100
// BENCH_KDS_RECONNECT_RESOURCES=10000 BENCH_KDS_TIMEOUT_MS BENCH_KDS_SYNC_TIMEOUT_MS BENCH_KDS_SETTLE_MS
// MESHFED_BENCH_POSTGRES_URL (admin URL; each reconnect run creates and drops its own database)
// BENCH_KDS_VERBOSE=1 (children's output on stderr) BENCH_KDS_CPU_PROF=DIR (V8 CPU profile of every child).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type FromChild, killAll, meshTimeout, MESH, Proc, TimeoutError, wall, type ZoneHarnessConfig } from './kds-proc.js';
import { fmt, summarize, table } from './stats.js';

const nums = (v: string | undefined, def: number[]) => (v ? v.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n >= 0) : def);
const ZONES = nums(process.env.BENCH_KDS_ZONES, [1, 5, 10]);
const RESOURCES = nums(process.env.BENCH_KDS_RESOURCES, [1000, 10_000]);
const SAMPLES = Number(process.env.BENCH_KDS_SAMPLES ?? 100);
const WARMUP = Number(process.env.BENCH_KDS_WARMUP ?? 10);
const RECONNECT_RESOURCES = Number(process.env.BENCH_KDS_RECONNECT_RESOURCES ?? 10_000);
const RECONNECT_ZONES = nums(process.env.BENCH_KDS_RECONNECT_ZONES, [1, 10]);
const RECONNECT_CHANGES = nums(process.env.BENCH_KDS_RECONNECT_CHANGES, [0, 100]);
/** Any of: latency, baseline, reconnect. */
const PARTS = new Set((process.env.BENCH_KDS_PARTS ?? 'latency,baseline,reconnect').split(',').map((s) => s.trim()));
/** One convergence (a sample reaching every zone, a resync) must happen within this. */
const TIMEOUT_MS = Number(process.env.BENCH_KDS_TIMEOUT_MS ?? 30_000);
/** Processes starting and the initial sync of the existing resources to every zone. */
const SYNC_TIMEOUT_MS = Number(process.env.BENCH_KDS_SYNC_TIMEOUT_MS ?? 180_000);
/** After a 0-change reconnect: how long nothing more may arrive before it counts as converged. */
const SETTLE_MS = Number(process.env.BENCH_KDS_SETTLE_MS ?? 1000);
const PG_ADMIN_URL = process.env.MESHFED_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const GLOBAL_HARNESS = './kds-global-harness.ts';
const ZONE_HARNESS = './kds-zone-harness.ts';
const BASELINE_HARNESS = './kds-baseline-harness.ts';

/** Handles a promise's rejection for whoever does not await it, and hands it back unchanged. */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const mib = (bytes: number | undefined) => (bytes === undefined ? '-' : `${(bytes / 1024 / 1024).toFixed(0)} MiB`);
const kib = (bytes: number) => (bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`);
const ms = (x: number | undefined) => (x === undefined ? '-' : fmt(x));

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`missing ${what}`);
  return v;
}

let tmpDir: string | undefined;
const databases = new Set<string>();

// ---------------------------------------------------------------------------------------------
// meshfed processes

interface Global {
  readonly proc: Proc;
  readonly url: string;
  readonly kdsPort: number;
  readonly tokens: Map<string, string>;
}

async function startGlobal(): Promise<Global> {
  const proc = new Proc('global', GLOBAL_HARNESS, {});
  const ready = await proc.waitFor('ready', (m) => (m.kind === 'ready' ? m : undefined), SYNC_TIMEOUT_MS);
  return { proc, url: need(ready.url, 'global url'), kdsPort: need(ready.kdsPort, 'KDS port'), tokens: new Map() };
}

async function tokenFile(g: Global, zone: string): Promise<string> {
  const known = g.tokens.get(zone);
  if (known) return known;
  const res = await fetch(`${g.url}/tokens/zone`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ zone, scope: ['zone'], validFor: '1h' }) });
  if (!res.ok) throw new Error(`token for ${zone}: ${res.status} ${await res.text()}`);
  const file = join(need(tmpDir, 'temp dir'), `${zone}-${randomBytes(4).toString('hex')}.token`);
  writeFileSync(file, (await res.text()).trim());
  g.tokens.set(zone, file);
  return file;
}

/** A zone process just forked; every wait is registered before any message can arrive. */
interface ZoneProc {
  readonly proc: Proc;
  readonly zone: string;
  readonly starting: Promise<number>;
  readonly ready: Promise<string>;
  readonly synced: Promise<number>;
  readonly connected: Promise<number>;
}

async function spawnZone(g: Global, zone: string, o: Omit<ZoneHarnessConfig, 'zone' | 'kdsPort' | 'tokenFile'>): Promise<ZoneProc> {
  const cfg: ZoneHarnessConfig = { zone, kdsPort: g.kdsPort, tokenFile: await tokenFile(g, zone), ...o };
  const proc = new Proc(zone, ZONE_HARNESS, { BENCH_KDS_HARNESS: JSON.stringify(cfg) });
  type Of<K> = Extract<FromChild, { kind: K }>;
  const at = <K extends FromChild['kind']>(kind: K, what: string, pick: (m: Of<K>) => boolean = () => true) =>
    quiet(proc.waitFor<Of<K>>(what, (m) => (m.kind === kind && pick(m as Of<K>) ? (m as Of<K>) : undefined), SYNC_TIMEOUT_MS));
  return {
    proc, zone,
    starting: at('starting', 'start').then((m) => m.at),
    ready: at('ready', 'ready').then((m) => need(m.url, 'zone url')),
    synced: at('synced', `${o.expect} MeshTimeouts`).then((m) => m.at),
    connected: at('link', 'KDS link up', (m) => m.state === 'connected').then((m) => m.at),
  };
}

async function metricSum(url: string, name: string, filter: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if ((line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(filter)) sum += Number(line.split(' ').pop());
  }
  return sum;
}
const bytesSentDown = (g: Global) => metricSum(g.url, 'meshfed_kds_bytes_sent_total', 'direction="global-to-zone"');

async function put(url: string, body: unknown, status: number[]): Promise<void> {
  const res = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!status.includes(res.status)) throw new Error(`PUT ${url}: ${res.status} ${text}`);
}

// ---------------------------------------------------------------------------------------------
// 1 + 3: propagation latency, meshfed and baseline

interface Latency {
  readonly p50?: number;
  readonly p99?: number;
  readonly recvP50?: number;
  readonly recvP99?: number;
  /** Global's (the baseline server's) and zone-1's RSS after the samples, and CPU ms per PUT during them. */
  readonly server?: Usage;
  readonly zone?: Usage;
  readonly syncMs?: number;
  /** Resources zone-1 applied (its meshfed_kds_resources_applied_total) per PUT during the samples. */
  readonly appliedPerPut?: number;
  readonly failed?: string;
}

interface Usage {
  readonly rss: number;
  readonly cpuPerPut: number;
}

/** Runs the samples between two readings of the server's and zone-1's RSS and CPU time. */
async function measured(server: Proc, zone: Proc, run: () => Promise<{ at: number[]; recv: number[] }>): Promise<Latency> {
  const read = async (p: Proc) => {
    const r = await p.request('usage', TIMEOUT_MS);
    return { rss: need(r.rss, 'rss'), cpuMs: need(r.cpuMs, 'cpu') };
  };
  const [s0, z0] = await Promise.all([read(server), read(zone)]);
  const s = await run();
  const [s1, z1] = await Promise.all([read(server), read(zone)]);
  const puts = WARMUP + SAMPLES;
  return {
    ...summarizeLatency(s),
    server: { rss: s1.rss, cpuPerPut: (s1.cpuMs - s0.cpuMs) / puts },
    zone: { rss: z1.rss, cpuPerPut: (z1.cpuMs - z0.cpuMs) / puts },
  };
}

/**
 * WARMUP + SAMPLES sequential PUTs of new MeshTimeouts, each waiting until every zone reported it.
 * A sample runs from just before the PUT to the last zone's arrival stamp (taken in the zone process
 * when the store's commit event fires); `recv` is the same to the bench's IPC receive time.
 */
async function sample(urlOf: (name: string) => string, zones: readonly Proc[], tag: string): Promise<{ at: number[]; recv: number[] }> {
  const at: number[] = [];
  const recv: number[] = [];
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    const name = `probe-${tag}-${i}`;
    const arrivals = zones.map((z) => quiet(z.waitFor(`arrival of ${name}`, (m, r) => (m.kind === 'arrived' && m.name === name ? { at: m.at, recv: r } : undefined), TIMEOUT_MS)));
    const t0 = wall();
    await put(urlOf(name), meshTimeout(name), [201]);
    const got = await Promise.all(arrivals);
    if (i < WARMUP) continue;
    at.push(Math.max(...got.map((g) => g.at)) - t0);
    recv.push(Math.max(...got.map((g) => g.recv)) - t0);
  }
  return { at, recv };
}

function summarizeLatency(s: { at: number[]; recv: number[] }): Pick<Latency, 'p50' | 'p99' | 'recvP50' | 'recvP99'> {
  const a = summarize(s.at);
  const r = summarize(s.recv);
  return { p50: a.p50, p99: a.p99, recvP50: r.p50, recvP99: r.p99 };
}

async function meshfedCell(zones: number, n: number): Promise<Latency> {
  const procs: Proc[] = [];
  try {
    const g = await startGlobal();
    procs.push(g.proc);
    await g.proc.request('load', SYNC_TIMEOUT_MS, n);
    const t0 = wall();
    const zs = await Promise.all(Array.from({ length: zones }, (_, i) => spawnZone(g, `zone-${i + 1}`, { store: 'memory', expect: n, armed: false })));
    procs.push(...zs.map((z) => z.proc));
    await Promise.all(zs.map((z) => z.synced));
    const syncMs = wall() - t0;
    await Promise.all(zs.map((z) => z.proc.request('arm', TIMEOUT_MS)));
    const url = (name: string) => `${g.url}/meshes/${MESH}/meshtimeouts/${name}`;
    const procsOfZones = zs.map((z) => z.proc);
    const zoneUrl = await zs[0]!.ready;
    const applied = () => metricSum(zoneUrl, 'meshfed_kds_resources_applied_total', 'direction="global-to-zone"');
    const a0 = await applied();
    const m = await measured(g.proc, procsOfZones[0]!, () => sample(url, procsOfZones, `${zones}-${n}`));
    return { ...m, syncMs, appliedPerPut: ((await applied()) - a0) / (WARMUP + SAMPLES) };
  } catch (err) {
    return { failed: describeFailure(err) };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

async function baselineCell(zones: number, n: number): Promise<Latency> {
  const procs: Proc[] = [];
  try {
    const server = new Proc('baseline-server', BASELINE_HARNESS, { BENCH_KDS_BASELINE: JSON.stringify({ role: 'server' }) });
    procs.push(server);
    const ready = await server.waitFor('ready', (m) => (m.kind === 'ready' ? m : undefined), SYNC_TIMEOUT_MS);
    const grpcPort = need(ready.grpcPort, 'baseline gRPC port');
    const httpPort = need(ready.httpPort, 'baseline HTTP port');
    const zs = Array.from({ length: zones }, (_, i) => new Proc(`baseline-zone-${i + 1}`, BASELINE_HARNESS, { BENCH_KDS_BASELINE: JSON.stringify({ role: 'zone', grpcPort, preload: n }) }));
    procs.push(...zs);
    await Promise.all(zs.map((z) => z.waitFor('ready', (m) => (m.kind === 'ready' ? m : undefined), SYNC_TIMEOUT_MS)));
    const url = (name: string) => `http://127.0.0.1:${httpPort}/meshes/${MESH}/meshtimeouts/${name}`;
    return await measured(server, zs[0]!, () => sample(url, zs, `base-${zones}-${n}`));
  } catch (err) {
    return { failed: describeFailure(err) };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

function describeFailure(err: unknown): string {
  if (err instanceof TimeoutError) {
    console.error(`  (${err.message})`);
    return 'timeout';
  }
  console.error(`  (${(err as Error).message})`);
  return 'error';
}

/** RSS of a harness process that loaded only node, the tsx loader and grpc-js. */
async function idleFloor(): Promise<number | undefined> {
  const p = new Proc('idle', BASELINE_HARNESS, { BENCH_KDS_BASELINE: JSON.stringify({ role: 'idle' }) });
  try {
    await p.waitFor('ready', (m) => (m.kind === 'ready' ? m : undefined), SYNC_TIMEOUT_MS);
    return (await p.request('usage', TIMEOUT_MS)).rss;
  } catch {
    return undefined;
  } finally {
    await p.kill();
  }
}

// ---------------------------------------------------------------------------------------------
// 2: reconnect resync of a zone on Postgres, killed (SIGKILL) and restarted

interface Resync {
  readonly zones: number;
  readonly changes: number;
  readonly fullBytes?: number;
  readonly fullApplied?: number;
  readonly fullMs?: number;
  readonly bytes?: number;
  readonly applied?: number;
  readonly linkMs?: number;
  readonly convergedMs?: number;
  readonly verified?: boolean;
  readonly zoneRss?: number;
  readonly failed?: string;
}

async function createDatabase(): Promise<{ name: string; url: string }> {
  const name = `meshfed_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  databases.add(name);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

async function dropDatabases(): Promise<void> {
  if (databases.size === 0) return;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    for (const name of databases) {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      databases.delete(name);
    }
  } finally {
    await admin.end();
  }
}

async function waitOffline(g: Global, zone: string): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (Date.now() < deadline) {
    const res = await fetch(`${g.url}/zones+insights/${zone}`);
    if (res.ok && ((await res.json()) as { online?: boolean }).online === false) return;
    await sleep(20);
  }
  throw new TimeoutError(`global did not see ${zone} disconnect within ${TIMEOUT_MS} ms`);
}

async function resyncRun(g: Global, others: readonly Proc[], zonesTotal: number, changes: number, n: number): Promise<Resync> {
  const zone = `resync-${changes}`;
  let first: ZoneProc | undefined;
  let second: ZoneProc | undefined;
  const db = await createDatabase();
  try {
    // Full sync: the zone starts on an empty database.
    const b0 = await bytesSentDown(g);
    first = await spawnZone(g, zone, { store: 'postgres', postgresUrl: db.url, expect: n, armed: false });
    const fullStart = await first.starting;
    const fullMs = (await first.synced) - fullStart;
    const firstUrl = await first.ready;
    await sleep(SETTLE_MS);
    const fullBytes = (await bytesSentDown(g)) - b0;
    const fullApplied = await metricSum(firstUrl, 'meshfed_kds_resources_applied_total', 'direction="global-to-zone"');

    // Down: kill -9, then change `changes` existing resources on global while the zone is away.
    await first.proc.kill();
    await waitOffline(g, zone);
    const watch: Record<string, string> = {};
    for (let j = 0; j < changes; j++) watch[`bench-${(j * 97) % n}`] = `${1000 + j}s`;
    const elsewhere = Object.keys(watch).flatMap((name) => others.map((o) => quiet(o.waitFor(`arrival of ${name}`, (m) => (m.kind === 'arrived' && m.name === name ? true : undefined), TIMEOUT_MS))));
    for (const [name, idle] of Object.entries(watch)) await put(`${g.url}/meshes/${MESH}/meshtimeouts/${name}`, meshTimeout(name, idle), [200]);
    await Promise.all(elsewhere);
    await sleep(200);
    const b2 = await bytesSentDown(g);

    // Up again on the same database: only what changed should travel.
    second = await spawnZone(g, zone, { store: 'postgres', postgresUrl: db.url, expect: n, armed: true, watch });
    const names = Object.keys(watch);
    const arrivals = names.map((name) => quiet(need(second, 'zone').proc.waitFor(`arrival of ${name}`, (m) => (m.kind === 'arrived' && m.name === name ? m.at : undefined), TIMEOUT_MS)));
    let extra = 0;
    const offExtra = second.proc.on((m) => {
      if (m.kind === 'arrived' && !(m.name in watch)) extra++;
    });
    const start = await second.starting;
    const linkAt = await second.connected;
    const convergedAt = names.length > 0 ? Math.max(...(await Promise.all(arrivals))) : linkAt;
    const url = await second.ready;
    await sleep(SETTLE_MS);
    offExtra();
    const bytes = (await bytesSentDown(g)) - b2;
    const applied = await metricSum(url, 'meshfed_kds_resources_applied_total', 'direction="global-to-zone"');
    const [zd, gd, zr] = await Promise.all([second.proc.request('digest', TIMEOUT_MS), g.proc.request('digest', TIMEOUT_MS), second.proc.request('usage', TIMEOUT_MS)]);
    const verified = zd.digest === gd.digest && extra === 0;
    if (!verified) console.error(`  (${zone}: zone digest ${zd.digest} (${zd.count}) vs global ${gd.digest} (${gd.count}); ${extra} unexpected arrivals)`);
    return {
      zones: zonesTotal, changes, fullBytes, fullApplied, fullMs, bytes, applied, linkMs: linkAt - start, convergedMs: convergedAt - start, verified,
      ...(zr.rss !== undefined ? { zoneRss: zr.rss } : {}),
    };
  } catch (err) {
    return { zones: zonesTotal, changes, failed: describeFailure(err) };
  } finally {
    await first?.proc.kill();
    await second?.proc.kill();
    await dropDatabases().catch((err: Error) => console.error(`  (could not drop ${db.name}: ${err.message})`));
  }
}

async function resyncSetup(zonesTotal: number, n: number): Promise<Resync[]> {
  const procs: Proc[] = [];
  try {
    const g = await startGlobal();
    procs.push(g.proc);
    await g.proc.request('load', SYNC_TIMEOUT_MS, n);
    // The zones that stay connected throughout (memory store); one more comes and goes on Postgres.
    const others = await Promise.all(Array.from({ length: zonesTotal - 1 }, (_, i) => spawnZone(g, `zone-${i + 1}`, { store: 'memory', expect: n, armed: true })));
    procs.push(...others.map((z) => z.proc));
    await Promise.all(others.map((z) => z.synced));
    const out: Resync[] = [];
    for (const c of RECONNECT_CHANGES) out.push(await resyncRun(g, others.map((z) => z.proc), zonesTotal, c, n));
    return out;
  } catch (err) {
    return RECONNECT_CHANGES.map((changes) => ({ zones: zonesTotal, changes, failed: describeFailure(err) }));
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

// ---------------------------------------------------------------------------------------------

export async function benchKds(): Promise<void> {
  tmpDir = mkdtempSync(join(tmpdir(), 'meshfed-bench-kds-'));
  const onSignal = () => {
    void killAll().then(() => dropDatabases()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    console.log('kds benchmark: the time from just before a PUT on global to the resource being in every zone\'s store');
    console.log(`global (memory store), each zone and each baseline process run as separate OS processes on this machine's ${cpus().length} cores, shared with the bench itself`);
    console.log(`${SAMPLES} sequential PUTs of new MeshTimeouts per cell after ${WARMUP} warm-up; a zone's arrival is stamped in the zone process when its store's commit event fires (bus subscription)`);
    console.log('"recv" columns: the same to the bench\'s IPC receive time, as a cross-check; RSS: global (baseline: its server) and zone-1 after the samples');
    console.log(`baseline: bare node http server forwarding the body over one grpc-js bidi stream per zone process, each keeping it in a Map pre-loaded with the same number of entries\n`);

    const floor = await idleFloor();
    if (floor !== undefined) console.log(`RSS floor of any harness process (node + tsx loader + grpc-js, idle): ${mib(floor)}\n`);

    if (PARTS.has('latency') || PARTS.has('baseline')) {
      const rows: string[][] = [['zones', 'resources', 'p50', 'p99', 'recv p50', 'recv p99', 'base p50', 'base p99', 'p50 ratio', 'initial sync']];
      const costs: string[][] = [['zones', 'resources', 'global RSS', 'zone-1 RSS', 'global CPU/PUT', 'zone-1 CPU/PUT', 'zone-1 applied/PUT', 'base srv RSS', 'base zone RSS', 'base srv CPU/PUT', 'base zone CPU/PUT']];
      for (const n of RESOURCES) {
        for (const z of ZONES) {
          console.error(`... ${z} zone(s), ${n} resources`);
          const m: Latency = PARTS.has('latency') ? await meshfedCell(z, n) : { failed: 'skipped' };
          const b: Latency = PARTS.has('baseline') ? await baselineCell(z, n) : { failed: 'skipped' };
          const ratio = m.p50 !== undefined && b.p50 !== undefined && b.p50 > 0 ? `${(m.p50 / b.p50).toFixed(1)}x` : '-';
          rows.push([
            String(z), String(n), m.failed ?? ms(m.p50), m.failed ?? ms(m.p99), m.failed ?? ms(m.recvP50), m.failed ?? ms(m.recvP99),
            b.failed ?? ms(b.p50), b.failed ?? ms(b.p99), ratio, m.failed ?? ms(m.syncMs),
          ]);
          costs.push([
            String(z), String(n), mib(m.server?.rss), mib(m.zone?.rss), ms(m.server?.cpuPerPut), ms(m.zone?.cpuPerPut), m.appliedPerPut?.toFixed(2) ?? '-',
            mib(b.server?.rss), mib(b.zone?.rss), ms(b.server?.cpuPerPut), ms(b.zone?.cpuPerPut),
          ]);
        }
      }
      console.log(table(rows));
      console.log('(initial sync: from forking the zone processes, tsx start-up included, to all of them holding every existing resource)\n');
      console.log('RSS after the samples; CPU: user + system time the process used during the samples, per PUT (warm-up included, idle timers too)');
      console.log(table(costs));
      console.log('');
    }

    if (PARTS.has('reconnect')) {
      const results: Resync[] = [];
      for (const z of RECONNECT_ZONES) {
        console.error(`... reconnect, ${z} zone(s), ${RECONNECT_RESOURCES} resources`);
        results.push(...(await resyncSetup(Math.max(1, z), RECONNECT_RESOURCES)));
      }
      console.log(`reconnect resync at ${RECONNECT_RESOURCES} MeshTimeouts: one zone on Postgres (its own database) is synced from empty (full sync), killed with SIGKILL,`);
      console.log('N existing MeshTimeouts are changed on global while it is down, and it is restarted on the same database; other zones stay connected');
      console.log('bytes: global\'s meshfed_kds_bytes_sent_total (global-to-zone) during the resync; applied: the zone\'s meshfed_kds_resources_applied_total');
      console.log('times from the restarted zone process calling startZone(); converged: the last changed resource committed in the zone (0 changes: the link up)');
      const rows: string[][] = [['zones', 'changes', 'full sync bytes', 'full applied', 'full sync time', 'resync bytes', '% of full', 'applied', 'to link up', 'to converged', 'state = global', 'zone RSS (pg)']];
      for (const r of results) {
        if (r.failed) {
          rows.push([String(r.zones), String(r.changes), r.failed, '', '', '', '', '', '', '', '', '']);
          continue;
        }
        const pct = r.fullBytes ? `${((100 * (r.bytes ?? 0)) / r.fullBytes).toFixed(2)}%` : '-';
        rows.push([
          String(r.zones), String(r.changes), kib(r.fullBytes ?? 0), String(r.fullApplied ?? '-'), ms(r.fullMs), kib(r.bytes ?? 0), pct, String(r.applied ?? '-'),
          ms(r.linkMs), ms(r.convergedMs), r.verified ? 'yes' : 'NO', mib(r.zoneRss),
        ]);
      }
      console.log(table(rows));
    }
  } finally {
    await killAll();
    await dropDatabases().catch((err: Error) => console.error(`could not drop temp databases: ${err.message}`));
    rmSync(tmpDir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
