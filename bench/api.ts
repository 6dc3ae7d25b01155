// `npm run bench -- api`: what authentication costs on the REST API's request path, over real HTTP on
// loopback. The servers run in the bench's process; the load comes from a child process (node's http
// client, keep-alive, BENCH_API_CONCURRENCY requests in flight), so that each has a core of its own.
// Every case answers `GET /meshes/default/meshtimeouts` (BENCH_API_ITEMS MeshTimeouts, the same bytes):
//   1. baseline: a bare Fastify server answering that JSON, no meshfed hooks;
//   2. meshfed's buildApiServer on a MemoryStore, no `access` option: loopback admin, no token;
//   3. the same API with access control on (localhostIsAdmin off), a user token of mesh-system:admin
//      (verified once, then served from UserTokens' cache of verified tokens);
//   4. the same, a token of a plain user (the built-in rule lets any user READ non-secret types);
//   3u. case 3 on an API whose UserTokens keep no cache of verified tokens (verifiedCacheSize 0):
//      every request pays the ECDSA check; 3 vs 3u is what the cache saves;
//   5. the same, a token with a forged signature (401: the full ECDSA check runs and fails);
//   6. the same, a token that is not a JWT (401 before any cryptography).
// Each case runs BENCH_API_ROUNDS times, interleaved (warm-up, then a fixed duration each time); its
// figures pool the rounds. Then `UserTokens.verify` alone in a loop, against raw ECDSA P-256 checks.
// Server CPU/req is the bench process's CPU time (every thread: event loop, libuv pool where WebCrypto
// verifies, GC) over the requests completed in the window; server busy is its event loop utilization.
// Knobs: BENCH_API_CONCURRENCY=32 BENCH_API_WARMUP_MS=400 BENCH_API_DURATION_MS=1800 BENCH_API_ROUNDS=3
// BENCH_API_ITEMS=10 BENCH_API_VERIFY_MS=1200 BENCH_API_VERBOSE=1 (the client's output on stderr)
// BENCH_API_CPU_PROF=DIR (V8 CPU profile of the client process).
import { createSign, createVerify, generateKeyPairSync, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { decodeJwt, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { buildApiServer, createLogger, InProcessEventBus, MemoryStore, NO_GRANTS, Telemetry, UserTokenError, UserTokens } from '@meshfed/shared';
import type { FromClient, LoadResult, LoadSpec, ToClient } from './api-client-harness.js';
import { killAll, Proc } from './proc.js';
import { fmt, summarize, table } from './stats.js';

const CONCURRENCY = Number(process.env.BENCH_API_CONCURRENCY ?? 32);
const WARMUP_MS = Number(process.env.BENCH_API_WARMUP_MS ?? 400);
const DURATION_MS = Number(process.env.BENCH_API_DURATION_MS ?? 1800);
const ROUNDS = Number(process.env.BENCH_API_ROUNDS ?? 3);
const ITEMS = Number(process.env.BENCH_API_ITEMS ?? 10);
const VERIFY_MS = Number(process.env.BENCH_API_VERIFY_MS ?? 1200);

const PATH = '/meshes/default/meshtimeouts';
const quiet = new Writable({ write: (_c, _e, cb) => cb() });
// `info`, as the daemons log: a refused token writes its audit line (here into a sink that drops it).
const log = createLogger({ component: 'bench', level: 'info', destination: quiet });

const meshTimeout = (name: string) => ({
  type: 'MeshTimeout', mesh: 'default', name,
  spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout: '10s', connectionTimeout: '5s', http: { requestTimeout: '15s' } } }] },
});

interface Case {
  readonly id: string;
  readonly what: string;
  readonly port: number;
  readonly headers: Record<string, string>;
  readonly status: number;
}

interface Figures {
  readonly count: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** Bench-process CPU µs per request, every thread. */
  readonly cpuUsPerReq: number;
  /** Event-loop utilization of the servers' thread, 0..1. */
  readonly elu: number;
  /** Client-process CPU over the window, as a share of one core. */
  readonly clientCore: number;
  /** CPU used by other processes of the host over the window, in cores; undefined off Linux. */
  readonly otherCores?: number;
  readonly wrong: number;
  readonly firstWrong?: string;
  readonly rpsByRound: number[];
  /** TCP connections the client opened, per round. */
  readonly connections: number[];
  heapMiB: number;
  rssMiB: number;
}

const mib = (b: number) => b / 1024 / 1024;
const us = (x: number) => `${x.toFixed(x < 10 ? 1 : 0)}µs`;
const x2 = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');
const heap = () => {
  global.gc?.();
  global.gc?.();
  return process.memoryUsage();
};

/** CPU time used by the whole host so far (every process, all cores), in ms; undefined off Linux. */
function hostBusyMs(): number | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
    return ((user + nice + system + irq + softirq + steal) * 1000) / 100;
  } catch {
    return undefined;
  }
}

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const a = app.server.address();
  if (a === null || typeof a === 'string') throw new Error('no port');
  return a.port;
}

async function get(port: number, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${PATH}`, { headers });
  return { status: res.status, body: await res.text() };
}

/** One run of one case: the client's warm-up, then its measured window, with this process's CPU and ELU over that window. */
async function runOnce(client: Proc<FromClient>, n: number, c: Case, bytes: number): Promise<{ r: LoadResult; cpuMs: number; elu: number; otherCpuMs?: number }> {
  const spec: LoadSpec = { port: c.port, path: PATH, headers: c.headers, status: c.status, bytes, concurrency: CONCURRENCY, warmupMs: WARMUP_MS, durationMs: DURATION_MS };
  const limit = WARMUP_MS + DURATION_MS + 30_000;
  const measuring = client.waitFor('measuring', (m) => (m.kind === 'measuring' && m.id === n ? true : undefined), limit);
  const result = client.waitFor('result', (m) => (m.kind === 'result' && m.id === n ? m.result : undefined), limit);
  result.catch(() => {});
  client.send({ id: n, spec } satisfies ToClient);
  await measuring;
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const host0 = hostBusyMs();
  const r = await result;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  const host1 = hostBusyMs();
  const cpuMs = (cpu.user + cpu.system) / 1000;
  // What the rest of the host used meanwhile (other processes): this bench's figures are only as clean as it is small.
  const otherCpuMs = host0 !== undefined && host1 !== undefined ? Math.max(0, host1 - host0 - cpuMs - r.clientCpuMs) : undefined;
  return { r, cpuMs, elu: elu.utilization, ...(otherCpuMs !== undefined ? { otherCpuMs } : {}) };
}

/** Calls `fn` one at a time (or `inFlight` at a time) for `ms` after a short warm-up: calls/s and CPU µs per call. */
async function loop(ms: number, fn: () => Promise<unknown>, inFlight = 1): Promise<{ rate: number; cpuUs: number; meanUs: number }> {
  const until = (end: number) => Promise.all(Array.from({ length: inFlight }, async () => {
    let k = 0;
    while (performance.now() < end) {
      await fn();
      k++;
    }
    return k;
  }));
  await until(performance.now() + Math.min(300, ms / 4));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const counts = await until(t0 + ms);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const n = counts.reduce((a, b) => a + b, 0);
  return { rate: Math.round((n / wall) * 1000), cpuUs: ((cpu.user + cpu.system) / n), meanUs: (wall * 1000 * inFlight) / n };
}

async function refused(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (err instanceof UserTokenError) return;
    throw err;
  }
  throw new Error('a bad token verified');
}

export async function benchApi(): Promise<void> {
  console.log(`api benchmark: GET ${PATH} (${ITEMS} MeshTimeouts) over HTTP/1.1 on loopback, node http client with keep-alive in its own process`);
  console.log(`${CONCURRENCY} requests in flight; each case ${ROUNDS} round(s) of ${WARMUP_MS} ms warm-up + ${DURATION_MS} ms measured, interleaved`);
  console.log(`node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);

  const bus = new InProcessEventBus();
  const store = new MemoryStore(bus);
  const userTokens = await UserTokens.open(store, { log });
  // The same keys without the cache of verified tokens: what each request costs when every signature is checked.
  const uncachedTokens = await UserTokens.open(store, { log, verifiedCacheSize: 0 });
  const open = buildApiServer({ mode: 'global', store, log, telemetry: new Telemetry({ service: 'bench' }) });
  const guarded = buildApiServer({
    mode: 'global', store, log, telemetry: new Telemetry({ service: 'bench' }),
    access: { userTokens, localhostIsAdmin: false, anonymousReads: false, grants: () => NO_GRANTS },
  });
  const uncached = buildApiServer({
    mode: 'global', store, log, telemetry: new Telemetry({ service: 'bench' }),
    access: { userTokens: uncachedTokens, localhostIsAdmin: false, anonymousReads: false, grants: () => NO_GRANTS },
  });
  const apps: FastifyInstance[] = [open, guarded, uncached];
  let client: Proc<FromClient> | undefined;
  try {
    // The data, written through the API as a user would (so it is what validation accepts).
    await store.commit([{ op: 'put', resource: { type: 'Mesh', name: 'default', labels: {}, spec: {} } }]);
    for (let i = 0; i < ITEMS; i++) {
      const r = await open.inject({ method: 'PUT', url: `${PATH}/timeout-${i}`, payload: JSON.stringify(meshTimeout(`timeout-${i}`)), headers: { 'content-type': 'application/json' } });
      if (r.statusCode !== 201) throw new Error(`seeding ${PATH}/timeout-${i}: ${r.statusCode} ${r.body}`);
    }
    const openPort = await listen(open);
    const guardedPort = await listen(guarded);
    const uncachedPort = await listen(uncached);
    const reference = await get(openPort, {});
    if (reference.status !== 200) throw new Error(`${PATH} answered ${reference.status}: ${reference.body}`);
    const answer: unknown = JSON.parse(reference.body);

    // The baseline answers the same object, serialized by Fastify on each request as meshfed's is.
    const bare = Fastify({ logger: false });
    apps.push(bare);
    bare.get(PATH, async () => answer);
    const barePort = await listen(bare);

    const admin = (await userTokens.issue({ name: 'bench-admin', groups: ['mesh-system:admin'], validForMs: 3_600_000 })).token;
    const reader = (await userTokens.issue({ name: 'bench-reader', groups: ['readers'], validForMs: 3_600_000 })).token;
    // Same header and claims, one signature character changed in its middle: well-formed, right kid, wrong signature.
    const [h, p, s] = admin.split('.') as [string, string, string];
    const mid = Math.floor(s.length / 2);
    const forged = `${h}.${p}.${s.slice(0, mid)}${s[mid] === 'A' ? 'B' : 'A'}${s.slice(mid + 1)}`;
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

    const cases: Case[] = [
      { id: '1', what: 'baseline: bare Fastify', port: barePort, headers: {}, status: 200 },
      { id: '2', what: 'meshfed, loopback admin, no token', port: openPort, headers: {}, status: 200 },
      { id: '3', what: 'meshfed, admin user token', port: guardedPort, headers: bearer(admin), status: 200 },
      { id: '4', what: 'meshfed, reader user token', port: guardedPort, headers: bearer(reader), status: 200 },
      { id: '3u', what: 'meshfed, admin user token, cache off', port: uncachedPort, headers: bearer(admin), status: 200 },
      { id: '5', what: 'meshfed, forged signature → 401', port: guardedPort, headers: bearer(forged), status: 401 },
      { id: '6', what: 'meshfed, not a JWT → 401', port: guardedPort, headers: bearer('not-a-token'), status: 401 },
    ];
    // Each case answers what it should before it is timed; the 200s byte for byte the same body.
    const bytes = new Map<string, number>();
    for (const c of cases) {
      const r = await get(c.port, c.headers);
      if (r.status !== c.status) throw new Error(`case ${c.id} (${c.what}) answered ${r.status}, not ${c.status}: ${r.body.slice(0, 300)}`);
      if (c.status === 200 && r.body !== reference.body) throw new Error(`case ${c.id} (${c.what}) answered another body`);
      bytes.set(c.id, Buffer.byteLength(r.body));
    }
    const noToken = await get(guardedPort, {});
    if (noToken.status !== 401) throw new Error(`with access control on, no token answered ${noToken.status}, not 401`);
    console.log(`response: ${bytes.get('1')} bytes of JSON (200); 401 bodies: ${bytes.get('5')} and ${bytes.get('6')} bytes`);
    console.log(`401 for the forged token says: ${JSON.parse((await get(guardedPort, bearer(forged))).body).details}\n`);

    client = new Proc<FromClient>('api-client', './api-client-harness.ts', { cpuProfEnv: 'BENCH_API_CPU_PROF', verboseEnv: 'BENCH_API_VERBOSE', stopGraceMs: 3000 });
    const c0 = client;
    await c0.waitFor('ready', (m) => (m.kind === 'ready' ? true : undefined), 30_000);

    const runs = new Map<string, Awaited<ReturnType<typeof runOnce>>[]>(cases.map((c) => [c.id, []]));
    const figures = new Map<string, Figures>();
    let n = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of cases) {
        runs.get(c.id)!.push(await runOnce(c0, ++n, c, bytes.get(c.id)!));
        const m = heap();
        const done = runs.get(c.id)!;
        const samples = done.flatMap((d) => d.r.samples);
        const wall = done.reduce((a, d) => a + d.r.wallMs, 0);
        const cpu = done.reduce((a, d) => a + d.cpuMs, 0);
        const s = summarize(samples);
        const wrong = done.reduce((a, d) => a + d.r.wrong, 0);
        const firstWrong = done.find((d) => d.r.firstWrong !== undefined)?.r.firstWrong;
        figures.set(c.id, {
          count: samples.length, rps: (samples.length / wall) * 1000, p50: s.p50, p99: s.p99,
          cpuUsPerReq: (cpu * 1000) / samples.length,
          elu: done.reduce((a, d) => a + d.elu * d.r.wallMs, 0) / wall,
          clientCore: done.reduce((a, d) => a + d.r.clientCpuMs, 0) / wall,
          ...(done.every((d) => d.otherCpuMs !== undefined) ? { otherCores: done.reduce((a, d) => a + d.otherCpuMs!, 0) / wall } : {}),
          wrong, ...(firstWrong !== undefined ? { firstWrong } : {}),
          rpsByRound: done.map((d) => (d.r.samples.length / d.r.wallMs) * 1000),
          connections: done.map((d) => d.r.connections),
          heapMiB: mib(m.heapUsed), rssMiB: mib(m.rss),
        });
      }
    }

    const f = (id: string) => figures.get(id)!;
    const base = f('1');
    const loop2 = f('2');
    const rows = cases.map((c) => {
      const x = f(c.id);
      return [
        `${c.id}. ${c.what}`, String(Math.round(x.rps)), fmt(x.p50), fmt(x.p99), us(x.cpuUsPerReq), `${Math.round(x.elu * 100)}%`, `${Math.round(x.clientCore * 100)}%`, x.otherCores !== undefined ? `${Math.round(x.otherCores * 100)}%` : '-',
        x2(x.rps, base.rps), x2(x.rps, loop2.rps), c.id === '1' ? '-' : `${x.cpuUsPerReq - loop2.cpuUsPerReq >= 0 ? '+' : ''}${us(x.cpuUsPerReq - loop2.cpuUsPerReq)}`,
        x.rpsByRound.map((r) => Math.round(r)).join(' / '), `${x.heapMiB.toFixed(1)} / ${x.rssMiB.toFixed(0)}`,
      ];
    });
    console.log(table([
      ['case', 'req/s', 'p50', 'p99', 'server CPU/req', 'server busy', 'client CPU', 'others', 'req/s vs 1', 'req/s vs 2', 'CPU/req vs 2', 'req/s by round', 'heap / rss MiB'],
      ...rows,
    ]));
    const bad = cases.filter((c) => f(c.id).wrong > 0);
    for (const c of bad) console.log(`!! case ${c.id}: ${f(c.id).wrong} answers not as expected, first: ${f(c.id).firstWrong}`);
    console.log(`requests counted: ${cases.map((c) => `${c.id}: ${f(c.id).count}`).join(', ')}; TCP connections opened per round: ${cases.map((c) => `${c.id}: ${f(c.id).connections.join('/')}`).join(', ')}`);
    console.log('server CPU/req: CPU time of the bench process (all its threads) / requests; server busy: its event loop utilization (wall clock); client CPU: share of one core; others: CPU of the other processes of the host meanwhile, in share of one core (noise); heap after gc and rss of the bench process after the case\'s last round\n');

    // The token check alone, in this process, the client idle.
    const ecdsa = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signingInput = `${h}.${p}`;
    const derSig = createSign('SHA256').update(signingInput).sign(ecdsa.privateKey);
    const webKeys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const data = Buffer.from(signingInput);
    const webSig = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, webKeys.privateKey, data);
    // jose alone: a token of the same claims and size, signed by a key of the same kind.
    const joseKeys = await generateKeyPair('ES256');
    const joseToken = await new SignJWT(decodeJwt(admin)).setProtectedHeader({ alg: 'ES256', kid: 'k', typ: 'JWT' }).sign(joseKeys.privateKey);
    const loops: [string, () => Promise<unknown>, number][] = [
      ['UserTokens.verify, valid admin token, 1 at a time (cached)', () => userTokens.verify(admin), 1],
      ['UserTokens.verify, valid admin token, 1 at a time, cache off', () => uncachedTokens.verify(admin), 1],
      [`UserTokens.verify, valid admin token, ${CONCURRENCY} in flight, cache off`, () => uncachedTokens.verify(admin), CONCURRENCY],
      ['UserTokens.verify, forged signature (refused)', () => refused(userTokens.verify(forged)), 1],
      ['UserTokens.verify, not a JWT (refused)', () => refused(userTokens.verify('not-a-token')), 1],
      ['jose jwtVerify alone (same claims, ES256), 1 at a time', () => jwtVerify(joseToken, joseKeys.publicKey, { algorithms: ['ES256'] }), 1],
      ['raw ECDSA P-256 verify, WebCrypto (what jose calls), 1 at a time', () => webcrypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, webKeys.publicKey, webSig, data), 1],
      ['raw ECDSA P-256 verify, node:crypto sync', async () => createVerify('SHA256').update(signingInput).verify(ecdsa.publicKey, derSig), 1],
    ];
    const loopRows: string[][] = [];
    for (const [what, fn, inFlight] of loops) {
      const r = await loop(VERIFY_MS, fn, inFlight);
      loopRows.push([what, String(r.rate), us(r.meanUs), us(r.cpuUs)]);
    }
    console.log(table([['in a loop', 'per second', 'time each', 'CPU each'], ...loopRows]));

    const tokenCost = f('3').cpuUsPerReq - loop2.cpuUsPerReq;
    console.log('');
    console.log(`token's own cost (3 vs 2): +${us(tokenCost)} CPU per request, throughput ${x2(f('3').rps, loop2.rps)}, p50 ${fmt(loop2.p50)} → ${fmt(f('3').p50)}`);
    const uncachedCost = f('3u').cpuUsPerReq - loop2.cpuUsPerReq;
    console.log(`without the cache of verified tokens (3u vs 2): +${us(uncachedCost)} CPU per request, throughput ${x2(f('3u').rps, loop2.rps)}, p50 ${fmt(loop2.p50)} → ${fmt(f('3u').p50)}`);
    console.log(`meshfed without a token vs bare Fastify (2 vs 1): +${us(loop2.cpuUsPerReq - base.cpuUsPerReq)} CPU per request, throughput ${x2(loop2.rps, base.rps)}`);
    console.log(`refusals: forged signature ${us(f('5').cpuUsPerReq)}, not a JWT ${us(f('6').cpuUsPerReq)} CPU per request (a 200 with a token: ${us(f('3').cpuUsPerReq)})`);
    console.log(`host load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    if (bad.length > 0) process.exitCode = 1;
  } finally {
    await client?.stop();
    await killAll();
    await Promise.all(apps.map((a) => a.close()));
  }
}
