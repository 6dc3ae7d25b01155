import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { MemoryStore } from '../store/memory-store.js';
import { buildApiServer } from '../rest/api-server.js';
import { createLogger } from '../telemetry/logger.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { createKdsMetrics } from './kds-metrics.js';

const quiet = new Writable({ write: (_c, _e, cb) => cb() });

/** The value of the one series of `name` whose labels include all of `labels`. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.indexOf('}'));
    const got = Object.fromEntries([...body.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

test('KDS metrics are served on /metrics with bounded labels', { timeout: 30_000 }, async (t) => {
  const telemetry = new Telemetry({ service: 'test' });
  const app = buildApiServer({ mode: 'global', store: new MemoryStore(), telemetry, log: createLogger({ component: 'test', destination: quiet }) });
  t.after(async () => {
    await app.close();
    await telemetry.shutdown();
  });
  const m = createKdsMetrics(telemetry, 'global');
  const g2z = 'global-to-zone' as const;
  const z2g = 'zone-to-global' as const;

  m.streamOpened(g2z);
  m.streamOpened(g2z);
  m.streamOpened(z2g);
  m.streamClosed(g2z);
  for (let i = 0; i < 3; i++) m.sent('Mesh', g2z, { nonce: `n${i}`, version: `v${i}`, resources: 2, removals: 0, bytes: 1000 });
  m.acked('Mesh', g2z, { nonce: 'n0', version: 'v0', latencyMs: 4 });
  m.acked('Mesh', g2z, { nonce: 'n1', version: 'v1', latencyMs: 40 });
  m.nacked('Mesh', g2z, { nonce: 'n2', version: 'v2', error: 'bad', rejected: [{ name: 'secret-resource-name', version: 'x', error: 'bad' }] });
  m.refusedToSend('ExternalService', g2z, { name: 'huge-resource-name', version: 'h1', error: 'too large' });
  m.applied('ZoneIngress', z2g, { resources: 5, removals: 1, rejected: 0, lagMs: 12 });
  m.protocolError('stale-nonce', 'nonce abc from zone-1');
  m.stalled(g2z, 'ack-timeout');
  m.stalled(g2z, 'a free-form reason that must not become a label');
  // A second handle on the same Telemetry shares the series rather than failing or splitting them.
  createKdsMetrics(telemetry, 'global').sent('Mesh', g2z, { nonce: 'n3', version: 'v3', resources: 1, removals: 0, bytes: 24 });

  const res = await app.inject('/metrics');
  assert.equal(res.statusCode, 200);
  const text = res.body;
  const mesh = { side: 'global', type: 'Mesh', direction: g2z };
  assert.equal(sample(text, 'meshfed_kds_streams_active', { direction: g2z }), 1);
  assert.equal(sample(text, 'meshfed_kds_streams_active', { direction: z2g }), 1);
  assert.equal(sample(text, 'meshfed_kds_responses_sent_total', mesh), 4);
  assert.equal(sample(text, 'meshfed_kds_bytes_sent_total', mesh), 3024);
  assert.equal(sample(text, 'meshfed_kds_acks_total', mesh), 2);
  assert.equal(sample(text, 'meshfed_kds_nacks_total', mesh), 1);
  assert.equal(sample(text, 'meshfed_kds_refused_total', { type: 'ExternalService', direction: g2z }), 1);
  assert.equal(sample(text, 'meshfed_kds_resources_applied_total', { type: 'ZoneIngress', direction: z2g }), 5);
  assert.equal(sample(text, 'meshfed_kds_protocol_errors_total', { kind: 'stale-nonce' }), 1);
  assert.equal(sample(text, 'meshfed_kds_stalls_total', { direction: g2z, reason: 'ack-timeout' }), 1);
  assert.equal(sample(text, 'meshfed_kds_stalls_total', { direction: g2z, reason: 'other' }), 1);
  assert.equal(sample(text, 'meshfed_kds_propagation_lag_seconds_count', { type: 'ZoneIngress', direction: z2g }), 1);
  assert.equal(sample(text, 'meshfed_kds_propagation_lag_seconds_sum', { type: 'ZoneIngress', direction: z2g }), 0.012);
  assert.equal(sample(text, 'meshfed_kds_propagation_lag_seconds_bucket', { type: 'ZoneIngress', direction: z2g, le: '0.025' }), 1);
  assert.equal(sample(text, 'meshfed_kds_propagation_lag_seconds_bucket', { type: 'ZoneIngress', direction: z2g, le: '0.01' }), 0);
  assert.equal(sample(text, 'meshfed_kds_ack_latency_seconds_count', mesh), 2);
  assert.equal(sample(text, 'meshfed_kds_ack_latency_seconds_bucket', { ...mesh, le: '0.005' }), 1);

  // Names, versions, nonces and free text never become labels.
  for (const leak of ['secret-resource-name', 'huge-resource-name', 'zone-1', 'free-form', 'n0', 'v2']) {
    assert.ok(!text.includes(leak), `${leak} must not appear in the metrics`);
  }
});
