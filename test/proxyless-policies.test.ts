// The policies proven by real RPCs: proxyless grpc-js-xds apps in one zone, each beside its own
// meshfed-dp agent, configured by the zone CP from policies applied on global. The client is a worker
// of this process (a member named web); backend runs as three real XdsServers (v1 twice, v2 once) with mesh
// mTLS and MeshTrafficPermission's RBAC. Each policy is applied to live traffic and observed changing
// it; nothing is restarted.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { POLICY_DESCRIPTORS } from '@meshfed/shared';
import { cleanups } from './support/cleanup.js';
import { eventually, FAST_GLOBAL, getJson, put, startZone, tmp } from './support/federation.js';
import { type RunningCp, startCp } from './support/processes.js';
import { type Member, startEchoApp, startMember } from './support/proxyless.js';

import type { CallResult, EchoRequest } from '../packages/dp/src/demo-app/index.js';
import { startXdsCaller, type XdsCaller } from './support/xds-caller.js';

// gRPC status codes.
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;
const PERMISSION_DENIED = 7;

const plural = (kind: string) => POLICY_DESCRIPTORS.find((d) => d.kind === kind)!.plural;
const GRPC = { 'kuma.io/protocol': 'grpc' };

let global: RunningCp;
let zone: RunningCp;
let web: XdsCaller;
const backends: Member[] = [];

async function ok(res: Promise<Response>): Promise<void> {
  const r = await res;
  assert.ok(r.ok, `${r.status} ${await r.text()}`);
}

async function applyPolicy(kind: string, name: string, spec: unknown): Promise<void> {
  await ok(put(`${global.url}/meshes/default/${plural(kind)}/${name}`, { type: kind, mesh: 'default', name, spec }));
}

async function deletePolicy(kind: string, name: string): Promise<void> {
  const r = await fetch(`${global.url}/meshes/default/${plural(kind)}/${name}`, { method: 'DELETE' });
  assert.ok(r.status === 200 || r.status === 404, `${r.status} ${await r.text()}`);
}

type Request = { body?: EchoRequest; headers?: Record<string, string> };

/** `n` calls from web to xds:///backend, at most `concurrency` in flight. */
function calls(n: number, req: (i: number) => Request = () => ({}), { concurrency = 50, deadlineMs = 5_000 } = {}): Promise<CallResult[]> {
  return web.run({ target: 'xds:///backend', xds: true, requests: Array.from({ length: n }, (_, i) => req(i)), concurrency, deadlineMs });
}

const countBy = <T>(xs: readonly T[], key: (x: T) => string | undefined) => {
  const out: Record<string, number> = {};
  for (const x of xs) {
    const k = key(x);
    if (k !== undefined) out[k] = (out[k] ?? 0) + 1;
  }
  return out;
};
const versionOf = (r: CallResult) => (r.ok ? r.res.version : undefined);
const instanceOf = (r: CallResult) => (r.ok ? r.res.instance : undefined);
const failures = (rs: readonly CallResult[]) => rs.filter((r) => !r.ok).map((r) => (r.ok ? '' : `${r.code}: ${r.details}`));

describe('policies proven by real RPCs between proxyless gRPC apps', { timeout: 240_000 }, () => {
  before(async () => {
    const { dir, cleanup } = tmp();
    cleanups.push(cleanup);
    global = await startCp('global', FAST_GLOBAL);
    zone = await startZone(global, 'zone-1', dir);
    await eventually('the default mesh in the zone', async () => (await getJson(`${zone.url}/meshes/default`)).status === 200);
    await ok(put(`${global.url}/meshes/default`, { type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } }));
    // The mesh's default retry and circuit breaker would hide what each test applies itself.
    await deletePolicy('MeshRetry', 'mesh-retry-all-default');
    await deletePolicy('MeshCircuitBreaker', 'mesh-circuit-breaker-all-default');
    // With mTLS nobody is let in without a MeshTrafficPermission.
    await applyPolicy('MeshTrafficPermission', 'allow-all', { targetRef: { kind: 'Mesh' }, from: [{ targetRef: { kind: 'Mesh' }, default: { action: 'Allow' } }] });

    const [webMember, ...bs] = await Promise.all([
      startMember(zone, dir, 'web', { 'kuma.io/service': 'web', ...GRPC }),
      startMember(zone, dir, 'backend-v1-a', { 'kuma.io/service': 'backend', version: 'v1', ...GRPC }),
      startMember(zone, dir, 'backend-v1-b', { 'kuma.io/service': 'backend', version: 'v1', ...GRPC }),
      startMember(zone, dir, 'backend-v2', { 'kuma.io/service': 'backend', version: 'v2', ...GRPC }),
    ]);
    backends.push(...bs);
    await Promise.all(bs.map((b) => startEchoApp(b, { service: 'backend', version: b.name.includes('v2') ? 'v2' : 'v1' })));

    web = startXdsCaller(webMember!.bootstrapFile);
    // Round robin over the three instances, over mesh mTLS, through the agent and the zone.
    await eventually('calls reaching all three backend instances', async () => {
      const rs = await calls(30, () => ({}), { deadlineMs: 2_000 });
      return Object.keys(countBy(rs, instanceOf)).length === 3;
    }, 30_000);
  });

  it('a plaintext client is refused by an mTLS server', async () => {
    const [r] = await web.run({ target: `127.0.0.1:${backends[0]!.port}`, xds: false, requests: [{}], concurrency: 1, deadlineMs: 3_000 });
    assert.equal(r!.ok, false, 'a plaintext call must not be answered');
    assert.ok(!r!.ok && r!.code === UNAVAILABLE, `refused at the handshake: ${JSON.stringify(r)}`);
    // The mesh member next to it is answered by the same server.
    const rs = await calls(10);
    assert.deepEqual(failures(rs), []);
  });

  it('MeshHTTPRoute: a header picks v2, and weights split 1,000 calls 90/10 within 5 points; removing it restores round robin', async () => {
    const t0 = Date.now();
    await applyPolicy('MeshHTTPRoute', 'backend-split', {
      targetRef: { kind: 'Mesh' },
      to: [{
        targetRef: { kind: 'MeshService', name: 'backend' },
        rules: [
          { matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ type: 'Exact', name: 'x-version', value: 'v2' }] }], default: { backendRefs: [{ kind: 'MeshServiceSubset', name: 'backend', tags: { version: 'v2' } }] } },
          { matches: [{ path: { type: 'PathPrefix', value: '/' } }], default: { backendRefs: [
            { kind: 'MeshServiceSubset', name: 'backend', tags: { version: 'v1' }, weight: 90 },
            { kind: 'MeshServiceSubset', name: 'backend', tags: { version: 'v2' }, weight: 10 },
          ] } },
        ],
      }],
    });
    await eventually('every call with x-version: v2 answered by v2', async () => {
      const rs = await calls(50, () => ({ headers: { 'x-version': 'v2' } }));
      return rs.every((r) => versionOf(r) === 'v2');
    });
    const followedMs = Date.now() - t0;
    const rs = await calls(1_000);
    assert.deepEqual(failures(rs), []);
    const byVersion = countBy(rs, versionOf);
    const v2 = (byVersion['v2'] ?? 0) / 1_000;
    assert.ok(Math.abs(v2 - 0.1) <= 0.05, `v2 took ${(v2 * 100).toFixed(1)}% of 1,000 calls (${JSON.stringify(byVersion)}); the route asks for 10%`);
    // Both v1 instances share v1's 90%.
    const byInstance = countBy(rs, instanceOf);
    assert.ok((byInstance['backend-v1-a'] ?? 0) > 300 && (byInstance['backend-v1-b'] ?? 0) > 300, JSON.stringify(byInstance));
    process.stdout.write(`# route followed ${followedMs} ms after the PUT on global; split ${JSON.stringify(byVersion)}\n`);

    await deletePolicy('MeshHTTPRoute', 'backend-split');
    await eventually('round robin again: x-version no longer picks v2', async () => {
      const r = countBy(await calls(60, () => ({ headers: { 'x-version': 'v2' } })), versionOf);
      return (r['v1'] ?? 0) >= 30 && (r['v2'] ?? 0) >= 10;
    });
  });

  it('MeshHTTPRoute: a PathPrefix on the gRPC service (a regex for gRPC) sends its calls to v2', async () => {
    await applyPolicy('MeshHTTPRoute', 'echo-to-v2', {
      targetRef: { kind: 'Mesh' },
      to: [{
        targetRef: { kind: 'MeshService', name: 'backend' },
        rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/meshfed.demo.Echo' } }], default: { backendRefs: [{ kind: 'MeshServiceSubset', name: 'backend', tags: { version: 'v2' } }] } }],
      }],
    });
    try {
      await eventually('every call answered by v2', async () => (await calls(50)).every((r) => versionOf(r) === 'v2'));
    } finally {
      await deletePolicy('MeshHTTPRoute', 'echo-to-v2');
    }
    await eventually('v1 answers again', async () => (await calls(30)).some((r) => versionOf(r) === 'v1'));
  });

  it('MeshRetry turns a server that fails its first two calls into a success', async () => {
    let id = 0;
    const flaky = () => ({ body: { id: `retry-${++id}`, failTimes: 2 } });
    const [without] = await calls(1, flaky);
    assert.ok(!without!.ok && without!.code === UNAVAILABLE, `without MeshRetry the first failure is the answer: ${JSON.stringify(without)}`);
    await applyPolicy('MeshRetry', 'backend-retry', {
      targetRef: { kind: 'Mesh' },
      to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, default: { grpc: { numRetries: 3, retryOn: ['Unavailable'], backOff: { baseInterval: '10ms', maxInterval: '50ms' } } } }],
    });
    try {
      await eventually('calls failing twice succeed on the third attempt', async () => {
        const rs = await calls(20, flaky);
        return rs.every((r) => r.ok && r.res.attempt === 3);
      });
      // Retries stop at the policy's number: a call failing four times fails (1 + 3 attempts).
      const [four] = await calls(1, () => ({ body: { id: `retry-${++id}`, failTimes: 4 } }));
      assert.ok(!four!.ok && four!.code === UNAVAILABLE, JSON.stringify(four));
      const [five] = await calls(1, () => ({ body: { id: `retry-${++id}`, failTimes: 3 } }));
      assert.ok(five!.ok && five!.res.attempt === 4, JSON.stringify(five));
    } finally {
      await deletePolicy('MeshRetry', 'backend-retry');
    }
  });

  it('MeshTimeout turns a slow call into DEADLINE_EXCEEDED', async () => {
    const [slowOk] = await calls(1, () => ({ body: { delayMs: 1_200 } }));
    assert.ok(slowOk!.ok, `the mesh's default 15s request timeout lets a 1.2s call through: ${JSON.stringify(slowOk)}`);
    await applyPolicy('MeshTimeout', 'backend-timeout', {
      targetRef: { kind: 'Mesh' },
      to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, default: { http: { requestTimeout: '300ms' } } }],
    });
    try {
      await eventually('a 1.2s call cut at 300ms', async () => {
        const t0 = Date.now();
        const [r] = await calls(1, () => ({ body: { delayMs: 1_200 } }));
        const ms = Date.now() - t0;
        return !r!.ok && r!.code === DEADLINE_EXCEEDED && ms < 1_000;
      });
      const fast = await calls(20);
      assert.deepEqual(failures(fast), [], 'fast calls are not affected');
    } finally {
      await deletePolicy('MeshTimeout', 'backend-timeout');
    }
  });

  it('MeshFaultInjection aborts and delays at the configured rates', async () => {
    const fault = (http: unknown) => applyPolicy('MeshFaultInjection', 'backend-faults', {
      targetRef: { kind: 'MeshService', name: 'backend' },
      from: [{ targetRef: { kind: 'MeshService', name: 'web' }, default: { http } }],
    });
    try {
      await fault([{ abort: { httpStatus: 503, percentage: 50 } }]);
      await eventually('some calls aborted', async () => failures(await calls(40)).length > 0);
      const rs = await calls(600);
      const aborted = rs.filter((r) => !r.ok);
      assert.ok(aborted.every((r) => !r.ok && r.code === UNAVAILABLE), `HTTP 503 is UNAVAILABLE: ${failures(aborted).slice(0, 3).join('; ')}`);
      const rate = aborted.length / rs.length;
      assert.ok(Math.abs(rate - 0.5) <= 0.08, `${(rate * 100).toFixed(1)}% aborted; the policy asks for 50%`);

      await fault([{ delay: { value: '400ms', percentage: 100 } }]);
      await eventually('every call delayed', async () => {
        const t0 = Date.now();
        const r = await calls(10, () => ({}), { concurrency: 10 });
        return failures(r).length === 0 && Date.now() - t0 >= 400;
      });
      const t0 = Date.now();
      const delayed = await calls(20, () => ({}), { concurrency: 20 });
      assert.deepEqual(failures(delayed), []);
      assert.ok(Date.now() - t0 >= 400, 'the batch took at least the delay');
    } finally {
      await deletePolicy('MeshFaultInjection', 'backend-faults');
    }
    await eventually('no fault once removed', async () => {
      const t0 = Date.now();
      const r = await calls(20, () => ({}), { concurrency: 20 });
      return failures(r).length === 0 && Date.now() - t0 < 300;
    });
  });

  it('MeshLoadBalancingStrategy ring hash keeps each x-user on one instance', async () => {
    await applyPolicy('MeshLoadBalancingStrategy', 'backend-ring', {
      targetRef: { kind: 'Mesh' },
      to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, default: { loadBalancer: { type: 'RingHash', ringHash: { hashPolicies: [{ type: 'Header', header: { name: 'x-user' } }] } } } }],
    });
    try {
      const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
      const sticky = async () => {
        const rs = await calls(users.length * 10, (i) => ({ headers: { 'x-user': users[i % users.length]! } }));
        if (failures(rs).length > 0) return undefined;
        const perUser = users.map((u, ui) => new Set(rs.filter((_, i) => i % users.length === ui).map(instanceOf)));
        return perUser.every((s) => s.size === 1) ? new Set(perUser.flatMap((s) => [...s])) : undefined;
      };
      const used = await eventually('every user on one instance', sticky);
      assert.ok(used.size >= 2, `20 users spread over more than one instance: ${[...used].join(', ')}`);
    } finally {
      await deletePolicy('MeshLoadBalancingStrategy', 'backend-ring');
    }
  });

  it('MeshTrafficPermission deny gives PERMISSION_DENIED at the server, and allowing again lets calls back in', async () => {
    await applyPolicy('MeshTrafficPermission', 'backend-deny-web', {
      targetRef: { kind: 'MeshService', name: 'backend' },
      from: [{ targetRef: { kind: 'MeshService', name: 'web' }, default: { action: 'Deny' } }],
    });
    try {
      const denied = await eventually('calls denied', async () => {
        const rs = await calls(20);
        return rs.every((r) => !r.ok && r.code === PERMISSION_DENIED) ? rs : undefined;
      });
      assert.equal(denied.length, 20);
    } finally {
      await deletePolicy('MeshTrafficPermission', 'backend-deny-web');
    }
    await eventually('calls let in again', async () => failures(await calls(20)).length === 0);
  });

  it('MeshCircuitBreaker outlier detection ejects an instance that fails every call', async () => {
    // A fourth instance of v1 that answers every call with UNAVAILABLE.
    const dir = tmp();
    cleanups.push(dir.cleanup);
    const bad = await startMember(zone, dir.dir, 'backend-bad', { 'kuma.io/service': 'backend', version: 'v1', ...GRPC });
    const app = await startEchoApp(bad, { service: 'backend', version: 'v1', failAll: true });
    try {
      await eventually('the broken instance taking calls', async () => failures(await calls(40)).length > 0);
      await applyPolicy('MeshCircuitBreaker', 'backend-breaker', {
        targetRef: { kind: 'Mesh' },
        to: [{
          targetRef: { kind: 'MeshService', name: 'backend' },
          default: { outlierDetection: { interval: '1s', baseEjectionTime: '30s', maxEjectionPercent: 50, detectors: { failurePercentage: { requestVolume: 10, minimumHosts: 3, threshold: 50 } } } },
        }],
      });
      // Ejection happens at the next interval after enough calls: keep calling until a batch is clean.
      await eventually('the broken instance ejected', async () => failures(await calls(100)).length === 0, 20_000);
      const rs = await calls(300);
      assert.deepEqual(failures(rs), [], 'no call reaches the ejected instance');
      assert.equal(Object.keys(countBy(rs, instanceOf)).length, 3, 'the three healthy instances share the calls');
      // Without the policy nothing is ejected: the broken instance takes calls again.
      await deletePolicy('MeshCircuitBreaker', 'backend-breaker');
      await eventually('the broken instance back once the policy is gone', async () => failures(await calls(40)).length > 0);
    } finally {
      await deletePolicy('MeshCircuitBreaker', 'backend-breaker');
      await app.stop();
      await bad.agent.stop();
    }
  });
});
