import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Telemetry } from './telemetry.js';

async function scrape(t: Telemetry): Promise<string> {
  const server = createServer((req, res) => t.serveMetrics(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return await res.text();
  } finally {
    server.close();
  }
}

const count = (text: string, series: string) => Number(new RegExp(`^test_latency_seconds_count\\{${series}[^}]*\\} (\\S+)`, 'm').exec(text)?.[1] ?? 0);

test('a batched histogram holds samples until a read, then the read sees every one of them, per series', async () => {
  const t = new Telemetry({ service: 'batched-test' });
  const h = t.batchedHistogram<{ type: string }>('test_latency_seconds', { description: 'test', maxDelayMs: 60_000 });
  for (let i = 0; i < 5; i++) h.record(0.001 * i, 'cluster', { type: 'cluster' });
  h.record(0.5, 'listener', { type: 'listener' });
  assert.equal(h.pending, 6);
  const text = await scrape(t);
  assert.equal(h.pending, 0);
  assert.equal(count(text, 'type="cluster"'), 5);
  assert.equal(count(text, 'type="listener"'), 1);
  h.record(0.2, 'cluster', { type: 'cluster' });
  assert.equal(count(await scrape(t), 'type="cluster"'), 6);
  await t.shutdown();
});

test('a burst larger than a batch records a uniform sample of the batch size; a batch records by itself after its delay', async () => {
  const t = new Telemetry({ service: 'batched-test' });
  const h = t.batchedHistogram<{ type: string }>('test_latency_seconds', { description: 'test', buckets: [0.005, 0.5, 2], maxPerBatch: 100, maxDelayMs: 60_000 });
  // 10,000 samples, half of them 0.001 and half 1: the kept 100 hold both, in about that proportion.
  for (let i = 0; i < 10_000; i++) h.record(i % 2 === 0 ? 0.001 : 1, 'a', { type: 'a' });
  assert.equal(h.pending, 10_000);
  const text = await scrape(t);
  assert.equal(count(text, 'type="a"'), 100, 'a batch records at most maxPerBatch samples');
  const small = Number(/^test_latency_seconds_bucket\{type="a"[^}]*le="0\.005"\} (\S+)/m.exec(text)?.[1]);
  assert.ok(small > 20 && small < 80, `about half the kept samples are the small ones (${small})`);

  const quick = t.batchedHistogram<{ type: string }>('test_quick_seconds', { description: 'test', maxDelayMs: 50 });
  quick.record(1, 'a', { type: 'a' });
  const until = Date.now() + 5000;
  while (quick.pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  assert.equal(quick.pending, 0, 'recorded after its delay');
  await t.shutdown();
});
