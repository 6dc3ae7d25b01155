// `npm run bench -- store`: writes and reads of 10,000 resources in each store, against a baseline
// measured in the same run (a bare Map; plain pg statements on a table of the same shape), then one
// commit of 10,000 puts in each store (a KDS full sync).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { MemoryStore, PostgresStore, type Resource, type ResourceStore } from '@meshfed/shared';
import { fmt, rate, summarize, table, timeConcurrent, timeEach } from './stats.js';

const N = Number(process.env.BENCH_STORE_N ?? 10_000);
const PG_URL = process.env.MESHFED_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CONCURRENCY = Number(process.env.BENCH_PG_CONCURRENCY ?? 16);

function dataplane(i: number): Resource {
  return {
    type: 'Dataplane', name: `dp-${i}`, mesh: 'default', labels: { app: `svc-${i % 500}` },
    spec: { networking: { address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, inbound: [{ port: 8080, tags: { 'kuma.io/service': `svc-${i % 500}`, 'kuma.io/protocol': 'http' } }] } },
  };
}

interface Row { what: string; writes: string; reads: string; wp50: string; wp99: string; rp50: string; rp99: string; extra?: string }

async function measureStore(label: string, store: ResourceStore, concurrent: boolean): Promise<{ row: Row; writeRate: number; readRate: number }> {
  await store.commit([{ op: 'put', resource: { type: 'Mesh', name: 'default', labels: {}, spec: {} } }]);
  const put = (i: number) => store.commit([{ op: 'put', resource: dataplane(i), expectedVersion: null }]);
  const get = (i: number) => store.get({ type: 'Dataplane', mesh: 'default', name: `dp-${(i * 7919) % N}` });
  const w = concurrent ? await timeConcurrent(N, CONCURRENCY, put) : await timeEach(N, put);
  const r = concurrent ? await timeConcurrent(N, CONCURRENCY, get) : await timeEach(N, get);
  const ws = summarize(w.samples);
  const rs = summarize(r.samples);
  return {
    row: { what: label, writes: String(rate(N, w.totalMs)), reads: String(rate(N, r.totalMs)), wp50: fmt(ws.p50), wp99: fmt(ws.p99), rp50: fmt(rs.p50), rp99: fmt(rs.p99) },
    writeRate: rate(N, w.totalMs), readRate: rate(N, r.totalMs),
  };
}

/** One commit of N puts into a mesh of their own, as a KDS full sync writes them. */
async function measureBulk(store: ResourceStore): Promise<{ ms: number; rate: number }> {
  await store.commit([{ op: 'put', resource: { type: 'Mesh', name: 'bulk', labels: {}, spec: {} } }]);
  const ops = Array.from({ length: N }, (_, i) => ({ op: 'put' as const, resource: { ...dataplane(i), mesh: 'bulk' } }));
  const start = performance.now();
  await store.commit(ops);
  const ms = performance.now() - start;
  return { ms, rate: rate(N, ms) };
}

async function mapBaseline(): Promise<{ row: Row; writeRate: number; readRate: number }> {
  const m = new Map<string, Resource>();
  const w = await timeEach(N, async (i) => m.set(`default/dp-${i}`, structuredClone(dataplane(i))));
  const r = await timeEach(N, async (i) => m.get(`default/dp-${(i * 7919) % N}`));
  const ws = summarize(w.samples);
  const rs = summarize(r.samples);
  return { row: { what: 'baseline: Map', writes: String(rate(N, w.totalMs)), reads: String(rate(N, r.totalMs)), wp50: fmt(ws.p50), wp99: fmt(ws.p99), rp50: fmt(rs.p50), rp99: fmt(rs.p99) }, writeRate: rate(N, w.totalMs), readRate: rate(N, r.totalMs) };
}

async function pgBaseline(schema: string): Promise<{ row: Row; writeRate: number; readRate: number }> {
  const pool = new pg.Pool({ connectionString: PG_URL, max: CONCURRENCY });
  try {
    await pool.query(`CREATE TABLE ${schema}.baseline (type text, mesh text, name text, spec jsonb, labels jsonb, version bigint, creation_time timestamptz, modification_time timestamptz, PRIMARY KEY (type, mesh, name))`);
    const w = await timeConcurrent(N, CONCURRENCY, (i) => {
      const d = dataplane(i);
      return pool.query(`INSERT INTO ${schema}.baseline VALUES ('Dataplane', 'default', $1, $2, $3, $4, now(), now())`, [d.name, JSON.stringify(d.spec), JSON.stringify(d.labels), i]);
    });
    const r = await timeConcurrent(N, CONCURRENCY, (i) => pool.query(`SELECT * FROM ${schema}.baseline WHERE type = 'Dataplane' AND mesh = 'default' AND name = $1`, [`dp-${(i * 7919) % N}`]));
    const ws = summarize(w.samples);
    const rs = summarize(r.samples);
    return { row: { what: 'baseline: plain pg', writes: String(rate(N, w.totalMs)), reads: String(rate(N, r.totalMs)), wp50: fmt(ws.p50), wp99: fmt(ws.p99), rp50: fmt(rs.p50), rp99: fmt(rs.p99) }, writeRate: rate(N, w.totalMs), readRate: rate(N, r.totalMs) };
  } finally {
    await pool.end();
  }
}

export async function benchStore(): Promise<void> {
  console.log(`store benchmark: ${N} Dataplanes written one commit each, then ${N} reads by key`);
  console.log(`memory: sequential; postgres: ${CONCURRENCY} concurrent clients (pool of ${CONCURRENCY}); then one commit of ${N} puts in each\n`);

  const heap = () => {
    global.gc?.();
    global.gc?.();
    return process.memoryUsage().heapUsed;
  };
  const heapBefore = heap();
  const mem = new MemoryStore();
  const memRes = await measureStore('memory store', mem, false);
  const heapPerResource = (heap() - heapBefore) / N;
  const listStart = performance.now();
  let listed = 0;
  for (let offset = 0; offset < N; offset += 1000) listed += (await mem.list('Dataplane', { mesh: 'default', limit: 1000, offset })).items.length;
  const memListMs = performance.now() - listStart;
  const memBulk = await measureBulk(mem);
  const mapRes = await mapBaseline();

  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  let pgRes: Awaited<ReturnType<typeof measureStore>>;
  let pgBulk: Awaited<ReturnType<typeof measureBulk>>;
  let pgBase: Awaited<ReturnType<typeof pgBaseline>>;
  try {
    const store = await PostgresStore.open({ url: PG_URL, schema, maxConnections: CONCURRENCY });
    try {
      pgRes = await measureStore('postgres store', store, true);
      pgBulk = await measureBulk(store);
    } finally {
      await store.close();
    }
    pgBase = await pgBaseline(schema);
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }

  const rows = [memRes, mapRes, pgRes, pgBase].map((x) => x.row);
  console.log(table([['', 'writes/s', 'reads/s', 'write p50', 'write p99', 'read p50', 'read p99'], ...rows.map((r) => [r.what, r.writes, r.reads, r.wp50, r.wp99, r.rp50, r.rp99])]));
  console.log('');
  console.log(`memory store vs Map:        writes ${(memRes.writeRate / mapRes.writeRate).toFixed(2)}x, reads ${(memRes.readRate / mapRes.readRate).toFixed(2)}x`);
  console.log(`postgres store vs plain pg: writes ${(pgRes.writeRate / pgBase.writeRate).toFixed(2)}x, reads ${(pgRes.readRate / pgBase.readRate).toFixed(2)}x`);
  console.log(`one commit of ${N} puts:   memory store ${fmt(memBulk.ms)} (${memBulk.rate}/s), postgres store ${fmt(pgBulk.ms)} (${pgBulk.rate}/s)`);
  console.log(`memory store: ${global.gc ? `~${Math.round(heapPerResource)} bytes of heap per Dataplane` : 'heap per Dataplane needs --expose-gc'}; listing all ${listed} in pages of 1000 took ${fmt(memListMs)}`);
}
