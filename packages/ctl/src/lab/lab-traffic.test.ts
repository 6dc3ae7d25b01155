import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseResource } from '@meshfed/shared/resources';
import { parse } from 'yaml';
import { ECHO_CALLER, ECHO_SERVICE, ECHO_VERSIONS, EXAMPLE_ROUTE_FILE, EXAMPLE_ROUTE_NAME, trafficDataplane, trafficPlan, trafficResources } from './lab-traffic-plan.js';
import { keepWindow, type LoadLine, type MemberView, type ReceivedWindow, TRAFFIC_WINDOWS_KEPT, trafficTable } from './lab-traffic-view.js';

const ROOT = join(import.meta.dirname, '..', '..', '..', '..');

describe('the traffic demo\'s plan', () => {
  it('has, per zone, the caller and one server per version, each a valid proxyless gRPC Dataplane', () => {
    const plan = trafficPlan(0);
    assert.deepEqual(plan.map((m) => `${m.zone} ${m.name} ${m.role} ${m.version ?? '-'}`), [
      'zone-1 echo-web caller -', 'zone-1 echo-v1 server v1', 'zone-1 echo-v2 server v2',
      'zone-2 echo-web caller -', 'zone-2 echo-v1 server v1', 'zone-2 echo-v2 server v2',
    ]);
    for (const m of plan) {
      const dp = parseResource(trafficDataplane(m)).spec as unknown as { networking: { proxyless: boolean; inbound: { port: number; tags: Record<string, string> }[] } };
      assert.equal(dp.networking.proxyless, true);
      assert.equal(dp.networking.inbound[0]!.port, m.port);
      assert.equal(dp.networking.inbound[0]!.tags['kuma.io/protocol'], 'grpc');
      assert.equal(dp.networking.inbound[0]!.tags['kuma.io/service'], m.service);
    }
  });

  it('lets the caller call the servers', () => {
    const [mtp] = trafficResources();
    assert.deepEqual((parseResource(mtp!.body).spec as { spec: unknown }).spec, {
      targetRef: { kind: 'MeshService', name: ECHO_SERVICE },
      from: [{ targetRef: { kind: 'MeshService', name: ECHO_CALLER }, default: { action: 'Allow' } }],
    });
  });

  it('is what the repository\'s example route splits, by the name the lab prints', () => {
    const route = parse(readFileSync(join(ROOT, EXAMPLE_ROUTE_FILE), 'utf8')) as {
      type: string; name: string;
      spec: { targetRef: { name: string }; to: { targetRef: { name: string }; rules: { default: { backendRefs: { name: string; tags: { version: string }; weight: number }[] } }[] }[] };
    };
    assert.equal(route.type, 'MeshHTTPRoute');
    assert.equal(route.name, EXAMPLE_ROUTE_NAME);
    assert.equal(route.spec.targetRef.name, ECHO_CALLER);
    assert.equal(route.spec.to[0]!.targetRef.name, ECHO_SERVICE);
    const refs = route.spec.to[0]!.rules[0]!.default.backendRefs;
    assert.deepEqual(refs.map((r) => [r.name, r.tags.version, r.weight]), [[ECHO_SERVICE, ECHO_VERSIONS[0], 90], [ECHO_SERVICE, ECHO_VERSIONS[1], 10]]);
  });
});

const line = (ok: number, byInstance: Record<string, number>, failed: Record<string, number> = {}): LoadLine => ({ msg: 'load', ok, failed, byInstance, byVersion: {} });

describe('the traffic table', () => {
  const members: MemberView[] = trafficPlan(0).map((member) => ({ member, state: member.role === 'caller' ? 'calling' : 'serving' }));
  const NOW = 100_000;

  it('shows per zone the calls per second answered and failed, and each instance\'s rate and share, averaged over the windows kept', () => {
    const windows = new Map<string, ReceivedWindow[]>([
      ['zone-1', [
        { at: NOW - 2_000, line: line(50, { 'echo-v1': 45, 'echo-v2': 5 }) },
        { at: NOW - 1_000, line: line(48, { 'echo-v1': 43, 'echo-v2': 5 }, { UNAVAILABLE: 2 }) },
      ]],
      ['zone-2', [{ at: NOW, line: line(50, { 'echo-v1': 25, 'echo-v2': 25 }) }]],
    ]);
    assert.equal(trafficTable(members, windows, NOW), [
      'ZONE     APP        VERSION   STATE     OK/S   FAILED/S            SHARE',
      'zone-1   echo-web   -         calling   49     1 (UNAVAILABLE 1)   -',
      'zone-1   echo-v1    v1        serving   44     -                   90%',
      'zone-1   echo-v2    v2        serving   5      -                   10%',
      'zone-2   echo-web   -         calling   50     0                   -',
      'zone-2   echo-v1    v1        serving   25     -                   50%',
      'zone-2   echo-v2    v2        serving   25     -                   50%',
    ].join('\n'));
  });

  it('shows no rate before the first window or once the windows are stale, and names an instance the lab did not start', () => {
    const windows = new Map<string, ReceivedWindow[]>([
      ['zone-1', [{ at: NOW - 6_000, line: line(50, { 'echo-v1': 50 }) }]],
      ['zone-2', [{ at: NOW, line: line(10, { 'echo-v1': 5, stranger: 5 }) }]],
    ]);
    const rows = trafficTable(members, windows, NOW).split('\n').map((r) => r.split(/\s{2,}/));
    assert.deepEqual(rows.slice(1, 4).map((r) => r.slice(4)), [['-', '-', '-'], ['-', '-', '-'], ['-', '-', '-']]);
    assert.deepEqual(rows.slice(4), [
      ['zone-2', 'echo-web', '-', 'calling', '10', '0', '-'],
      ['zone-2', 'echo-v1', 'v1', 'serving', '5', '-', '50%'],
      ['zone-2', 'echo-v2', 'v2', 'serving', '0', '-', '0%'],
      ['zone-2', 'stranger', '?', 'not the lab\'s', '5', '-', '50%'],
    ]);
  });

  it('keeps only the newest windows', () => {
    let kept: ReceivedWindow[] = [];
    for (let i = 0; i < 20; i++) kept = keepWindow(kept, { at: i, line: line(i, {}) });
    assert.deepEqual(kept.map((w) => w.at), Array.from({ length: TRAFFIC_WINDOWS_KEPT }, (_, i) => 20 - TRAFFIC_WINDOWS_KEPT + i));
  });
});
