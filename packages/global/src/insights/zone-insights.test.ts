import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { type ResourceStore, ZoneInsightSpec, type ZoneSubscription } from '@meshfed/shared';
import { capturingLogger, countingStore, sleep, waitFor } from './testing.js';
import { type ZoneInsightsOptions, ZoneInsights, type ZoneOfflineEvent } from './zone-insights.js';
import { isZoneOnline } from './zone-overview.js';

const T = { timeout: 20_000 };
const G2Z = 'global-to-zone' as const;
const Z2G = 'zone-to-global' as const;

function insights(t: TestContext, store: ResourceStore, o: Partial<ZoneInsightsOptions> = {}) {
  const { log, lines } = capturingLogger();
  const zi = new ZoneInsights({ store, log, instanceId: 'global-a', cpVersion: '1.2.3', healthCheckIntervalMs: 10_000, flushIntervalMs: 50, ...o });
  zi.start();
  t.after(() => zi.stop());
  return { zi, lines };
}

async function stored(store: ResourceStore, zone: string): Promise<ZoneSubscription[]> {
  const r = await store.get({ type: 'ZoneInsight', name: zone });
  assert.ok(r, `ZoneInsight ${zone} is stored`);
  return ZoneInsightSpec.parse(r.spec).subscriptions;
}

describe('ZoneInsights', { concurrency: true }, () => {
  test('records sent, ACK, NACK, refusals and applies per type and direction', T, async (t) => {
    const { store } = countingStore();
    const { zi } = insights(t, store);
    const s = zi.connect('zone-1', { zoneCpVersion: '0.9.0', streamId: 'stream-1' });
    const o = s.observer;
    o.sent('Mesh', G2Z, { nonce: 'n1', version: 'v1', resources: 3, removals: 0, bytes: 300 });
    o.acked('Mesh', G2Z, { nonce: 'n1', version: 'v1', latencyMs: 7 });
    o.sent('Mesh', G2Z, { nonce: 'n2', version: 'v2', resources: 1, removals: 0, bytes: 100 });
    o.nacked('Mesh', G2Z, { nonce: 'n2', version: 'v2', error: 'mesh "m" is invalid', rejected: [{ name: 'm', version: 'h2', error: 'invalid' }] });
    // ZoneIngress flows both ways: the two directions are kept apart.
    o.sent('ZoneIngress', G2Z, { nonce: 'n3', version: 'i1', resources: 1, removals: 0, bytes: 80 });
    o.acked('ZoneIngress', G2Z, { nonce: 'n3', version: 'i1', latencyMs: 2 });
    o.applied('ZoneIngress', Z2G, { resources: 4, removals: 1, rejected: 1, lagMs: 3 });
    o.refusedToSend('ExternalService', G2Z, { name: 'huge', version: 'x1', error: 'encoded size 5 MiB exceeds the 4 MiB limit' });
    o.protocolError('stale-nonce', 'nonce n0 is not the last one sent');
    s.stalled(G2Z, 'ack-timeout');
    await zi.flush();

    const [sub, ...rest] = await stored(store, 'zone-1');
    assert.equal(rest.length, 0);
    assert.equal(sub!.id, 'stream-1');
    assert.equal(sub!.globalInstanceId, 'global-a');
    assert.equal(sub!.cpVersion, '1.2.3');
    assert.equal(sub!.zoneCpVersion, '0.9.0');
    assert.equal(sub!.disconnectTime, undefined);
    const stat = sub!.status.stat;
    const mesh = stat.Mesh?.[G2Z];
    assert.ok(mesh);
    assert.deepEqual(
      { sent: mesh.sent, acked: mesh.acked, rejected: mesh.rejected, lastSentVersion: mesh.lastSentVersion, lastAckedVersion: mesh.lastAckedVersion, lastAckLatencyMs: mesh.lastAckLatencyMs },
      { sent: 2, acked: 1, rejected: 1, lastSentVersion: 'v2', lastAckedVersion: 'v1', lastAckLatencyMs: 7 },
    );
    assert.equal(mesh.lastNack?.error, 'mesh "m" is invalid');
    assert.equal(mesh.lastNack?.version, 'v2');
    assert.deepEqual(mesh.lastNack?.rejected, [{ name: 'm', version: 'h2', error: 'invalid' }]);
    assert.ok(!Number.isNaN(Date.parse(mesh.lastNack!.time)));
    assert.equal(stat.Mesh?.[Z2G], undefined);
    assert.equal(stat.ZoneIngress?.[G2Z]?.acked, 1);
    assert.deepEqual(
      { applied: stat.ZoneIngress?.[Z2G]?.applied, resources: stat.ZoneIngress?.[Z2G]?.resourcesApplied, removals: stat.ZoneIngress?.[Z2G]?.removalsApplied, rejected: stat.ZoneIngress?.[Z2G]?.resourcesRejected },
      { applied: 1, resources: 4, removals: 1, rejected: 1 },
    );
    const es = stat.ExternalService?.[G2Z];
    assert.equal(es?.refusedTotal, 1);
    assert.equal(es?.refused[0]?.name, 'huge');
    assert.match(es?.refused[0]?.error ?? '', /exceeds the 4 MiB limit/);
    assert.deepEqual(sub!.status.total, { sent: 3, acked: 2, rejected: 1, refused: 1 });
    assert.deepEqual(sub!.status.protocolErrors, { 'stale-nonce': 1 });
    assert.equal(sub!.status.stalls, 1);
    assert.equal(sub!.status.lastStall?.reason, 'ack-timeout');
  });

  test('writes at once on connect and disconnect, otherwise debounced: 100 ACKs make at most one more write', T, async (t) => {
    const { store, insightCommits } = countingStore();
    const flushIntervalMs = 300;
    const { zi } = insights(t, store, { flushIntervalMs });
    const s = zi.connect('zone-1', { zoneCpVersion: '0.9.0', streamId: 'stream-1' });
    await waitFor('the connect write', () => insightCommits.length === 1, 1000);
    assert.equal((await stored(store, 'zone-1')).length, 1, 'the subscription is stored on connect');

    const start = Date.now();
    for (let i = 0; i < 100; i++) {
      s.observer.sent('Mesh', G2Z, { nonce: `n${i}`, version: `v${i}`, resources: 1, removals: 0, bytes: 10 });
      s.observer.acked('Mesh', G2Z, { nonce: `n${i}`, version: `v${i}`, latencyMs: 1 });
      if (i % 25 === 24) await sleep(10);
    }
    assert.ok(Date.now() - start < flushIntervalMs, 'the ACKs all arrived within one flush interval');
    await waitFor('the debounced write', async () => (await stored(store, 'zone-1'))[0]?.status.stat.Mesh?.[G2Z]?.acked === 100, 3000);
    await sleep(flushIntervalMs + 100);
    assert.ok(insightCommits.length <= 2, `100 ACKs within a flush interval made ${insightCommits.length - 1} writes after the connect`);
    assert.ok(insightCommits[1]! - insightCommits[0]! >= flushIntervalMs - 5, 'the second write waited for the flush interval');

    s.disconnect('stream closed by the zone');
    await waitFor('the disconnect write', async () => (await stored(store, 'zone-1'))[0]?.disconnectTime !== undefined, 1000);
    assert.ok(Date.now() - insightCommits.at(-1)! < flushIntervalMs, 'the disconnect was written without waiting');
    const [sub] = await stored(store, 'zone-1');
    assert.equal(sub!.disconnectReason, 'stream closed by the zone');
    assert.equal(isZoneOnline({ subscriptions: [sub!] }, Date.now(), zi.staleAfterMs), false);

    // Nothing changes after a disconnect: no more writes.
    const writes = insightCommits.length;
    s.observer.acked('Mesh', G2Z, { nonce: 'late', version: 'late', latencyMs: 1 });
    s.healthCheck();
    await sleep(flushIntervalMs + 50);
    assert.equal(insightCommits.length, writes);
  });

  test('marks a zone offline after 3 missed health-check intervals and calls onOffline', T, async (t) => {
    const { store } = countingStore();
    const healthCheckIntervalMs = 50;
    const { zi, lines } = insights(t, store, { healthCheckIntervalMs, flushIntervalMs: 20 });
    const s = zi.connect('zone-1', { zoneCpVersion: '0.9.0', streamId: 'stream-1' });
    const events: ZoneOfflineEvent[] = [];
    s.onOffline((e) => events.push(e));

    // Health checks every interval keep it online well past 3 intervals.
    for (let i = 0; i < 8; i++) {
      await sleep(healthCheckIntervalMs);
      assert.equal(zi.healthCheck('zone-1'), true);
    }
    assert.equal(events.length, 0, 'not offline while health checks arrive');
    assert.equal(s.live, true);
    await zi.flush();
    const alive = await stored(store, 'zone-1');
    assert.ok(alive[0]?.lastHealthCheckTime, 'the last health check is stored');
    assert.equal(isZoneOnline({ subscriptions: alive }, Date.now(), zi.staleAfterMs), true);

    const silentSince = Date.now();
    await waitFor('onOffline', () => events.length > 0, 2000);
    const after = Date.now() - silentSince;
    assert.ok(after >= 3 * healthCheckIntervalMs - 5, `offline after ${after} ms, not before 3 intervals`);
    assert.ok(after < 3 * healthCheckIntervalMs + 500, `offline after ${after} ms, promptly`);
    assert.deepEqual({ zone: events[0]!.zone, streamId: events[0]!.streamId }, { zone: 'zone-1', streamId: 'stream-1' });
    assert.match(events[0]!.reason, /no health check/);
    assert.equal(s.live, false);

    const warn = lines.find((l) => l.level === 'warn' && l.zone === 'zone-1');
    assert.ok(warn, 'a warning names the zone');
    assert.match(String(warn.msg), /missed its health checks/);

    await waitFor('the offline write', async () => (await stored(store, 'zone-1'))[0]?.disconnectTime !== undefined, 1000);
    const [sub] = await stored(store, 'zone-1');
    assert.match(sub!.disconnectReason ?? '', /no health check/);
    assert.equal(isZoneOnline({ subscriptions: [sub!] }, Date.now(), zi.staleAfterMs), false);

    // A handler registered late still hears about it; a later disconnect keeps the first reason.
    const late = await new Promise<ZoneOfflineEvent>((resolve) => s.onOffline(resolve));
    assert.equal(late.streamId, 'stream-1');
    s.disconnect('closed');
    await zi.flush();
    assert.match((await stored(store, 'zone-1'))[0]!.disconnectReason ?? '', /no health check/);
    assert.equal(events.length, 1, 'onOffline is called once');
  });

  test('keeps the newest 5 subscriptions of a zone', T, async (t) => {
    const { store } = countingStore();
    const { zi } = insights(t, store);
    for (let i = 0; i < 8; i++) {
      const s = zi.connect('zone-1', { zoneCpVersion: '0.9.0', streamId: `stream-${i}` });
      await sleep(2); // distinct connect times
      s.disconnect();
      await zi.flush();
    }
    const live = zi.connect('zone-1', { zoneCpVersion: '1.0.0', streamId: 'stream-8' });
    await zi.flush();
    const subs = await stored(store, 'zone-1');
    assert.deepEqual(subs.map((s) => s.id), ['stream-4', 'stream-5', 'stream-6', 'stream-7', 'stream-8']);
    assert.equal(isZoneOnline({ subscriptions: subs }, Date.now(), zi.staleAfterMs), true, 'the newest subscription decides');
    live.disconnect();
  });

  test('a failed write is retried on the next flush interval, and stop() writes the end of every stream', T, async (t) => {
    const { store, insightCommits, failNext } = countingStore();
    const { zi, lines } = insights(t, store, { flushIntervalMs: 30 });
    failNext(2);
    const s = zi.connect('zone-1', { zoneCpVersion: '0.9.0', streamId: 'stream-1' });
    s.observer.acked('Mesh', G2Z, { nonce: 'n', version: 'v', latencyMs: 1 });
    await waitFor('the write to succeed after the store came back', async () => (await store.get({ type: 'ZoneInsight', name: 'zone-1' })) !== undefined, 2000);
    assert.ok(insightCommits.length >= 3);
    assert.equal(lines.filter((l) => l.level === 'warn' && /cannot write the zone insight/.test(String(l.msg))).length, 1, 'one warning per failure streak');

    await zi.stop();
    const [sub] = await stored(store, 'zone-1');
    assert.ok(sub!.disconnectTime);
    assert.equal(sub!.disconnectReason, 'the global control plane is stopping');
    assert.equal(s.live, false);
    assert.throws(() => zi.connect('zone-1', { zoneCpVersion: '0.9.0', streamId: 'stream-2' }), /stopped/);
  });
});
