import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataplaneSpec, MeshGatewaySpec } from '@meshfed/shared';
import { computeRule } from './build-rules.js';
import { parsePolicies, type StoredPolicy } from './parse.js';
import { computeProxyRules, RULE_MATCHES_HASH_TAG, ruleMatchesHash, rulesForKind } from './proxy-rules.js';
import type { AnyPolicy } from './policy-kinds.js';
import type { ProxyView } from './selection.js';

const web: ProxyView = {
  name: 'web-1',
  mesh: 'default',
  spec: DataplaneSpec.parse({
    networking: {
      address: '10.0.0.1',
      inbound: [{ port: 8080, tags: { 'kuma.io/service': 'web' } }],
      outbound: [{ port: 10001, tags: { 'kuma.io/service': 'backend' } }, { port: 10002, tags: { 'kuma.io/service': 'db' } }],
    },
  }),
};

function parse(stored: StoredPolicy[]) {
  const { policies, problems } = parsePolicies(stored);
  assert.deepEqual(problems, []);
  return policies;
}
const policy = (type: string, name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): StoredPolicy => ({ type, name, mesh: 'default', labels, spec: { spec } });

describe('computeProxyRules', () => {
  it('MeshTCPRoute: the more specific policy\'s backendRefs replace the other\'s (meshtcproute To.GetDefault + list replacement)', () => {
    const to = (backend: string) => [{ targetRef: { kind: 'MeshService', name: 'backend' }, rules: [{ default: { backendRefs: [{ kind: 'MeshService', name: backend }] } }] }];
    const rules = computeProxyRules(web, parse([policy('MeshTCPRoute', 'mesh', { targetRef: { kind: 'Mesh' }, to: to('b1') }), policy('MeshTCPRoute', 'web', { targetRef: { kind: 'MeshService', name: 'web' }, to: to('b2') })]));
    assert.deepEqual(rules.MeshTCPRoute?.toByService['backend']?.conf, { backendRefs: [{ kind: 'MeshService', name: 'b2' }] });
    assert.equal(rules.MeshTCPRoute?.toByService['db'], undefined);
  });

  it('a policy targeting a MeshHTTPRoute applies per route rule, as {service, __rule-matches-hash__} (rules.go buildToList)', () => {
    const matches = [{ path: { type: 'PathPrefix', value: '/slow' } }];
    const route = policy('MeshHTTPRoute', 'slow-route', { targetRef: { kind: 'MeshService', name: 'web' }, to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, rules: [{ matches, default: {} }] }] });
    const timeout = policy('MeshTimeout', 'slow-timeout', { targetRef: { kind: 'MeshHTTPRoute', name: 'slow-route' }, to: [{ targetRef: { kind: 'Mesh' }, default: { http: { requestTimeout: '60s' } } }] });
    const mesh = policy('MeshTimeout', 'mesh', { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { http: { requestTimeout: '5s' } } }] });
    const r = rulesForKind('MeshTimeout', web, parse([route, timeout, mesh]))!;
    assert.deepEqual(r.policies, ['mesh', 'slow-timeout']);
    const hash = ruleMatchesHash(matches as never);
    const onRoute = computeRule(r.to, [{ key: RULE_MATCHES_HASH_TAG, value: hash }, { key: 'kuma.io/service', value: 'backend' }]);
    assert.deepEqual(onRoute?.conf, { http: { requestTimeout: '60s' } });
    const otherRule = computeRule(r.to, [{ key: RULE_MATCHES_HASH_TAG, value: 'other' }, { key: 'kuma.io/service', value: 'backend' }]);
    assert.deepEqual(otherRule?.conf, { http: { requestTimeout: '5s' } });
    // Per service, the route-level policy does not count (README, "Choices").
    assert.deepEqual(r.toByService['backend']?.conf, { http: { requestTimeout: '5s' } });
    assert.deepEqual(r.toByService['backend']?.origins, ['mesh']);
  });

  it('reports a policy on a MeshHTTPRoute that does not exist, and still computes the others', () => {
    const r = rulesForKind('MeshTimeout', web, parse([policy('MeshTimeout', 'orphan', { targetRef: { kind: 'MeshHTTPRoute', name: 'nope' }, to: [{ targetRef: { kind: 'Mesh' }, default: { http: { requestTimeout: '1s' } } }] })]))!;
    assert.deepEqual(r.policies, []);
    assert.match(r.warnings.join(), /couldn't resolve MeshHTTPRoute targetRef with name 'nope'/);
  });

  it('builtin gateways get to-rules per listener and per listener hostname (rules.go BuildGatewayRules)', () => {
    const gw: ProxyView = {
      name: 'gw-1',
      mesh: 'default',
      spec: DataplaneSpec.parse({ networking: { address: '10.0.0.3', gateway: { type: 'BUILTIN', tags: { 'kuma.io/service': 'gw' } } } }),
      gateway: {
        name: 'edge',
        labels: {},
        spec: MeshGatewaySpec.parse({
          selectors: [{ match: { 'kuma.io/service': 'gw' } }],
          conf: { listeners: [{ port: 80, protocol: 'HTTP', tags: { port: 'http-80' } }, { port: 443, protocol: 'HTTP', hostname: 'a.com', tags: { port: 'https-443' } }] },
        }),
      },
    };
    // targetref.md (2.9) example: "So that only requests to port 80 will have the idle timeout."
    // meshfed's schema does not accept `tags` on a top-level MeshGateway yet (Kuma does: "MeshGateway
    // with tags"), so this policy is built without it.
    const perListener = { type: 'MeshTimeout', name: 'timeout-8080', mesh: 'default', labels: {}, spec: { targetRef: { kind: 'MeshGateway', name: 'edge', tags: { port: 'http-80' } }, to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout: '10s' } }] } } as unknown as AnyPolicy;
    const r = rulesForKind('MeshTimeout', gw, [
      ...parse([policy('MeshTimeout', 'all', { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout: '1h' } }] })]),
      perListener,
    ])!;
    assert.deepEqual(r.gatewayTo?.byListener['10.0.0.3:80']?.[0]?.conf, { idleTimeout: '10s' });
    assert.deepEqual(r.gatewayTo?.byListener['10.0.0.3:443']?.[0]?.conf, { idleTimeout: '1h' });
    assert.deepEqual(Object.keys(r.gatewayTo?.byListenerHostname ?? {}), ['10.0.0.3:443:a.com', '10.0.0.3:80:*']);
  });

  it('leaves out types no policy selects, and policies of other meshes', () => {
    const other = { ...policy('MeshRetry', 'x', { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { tcp: { maxConnectAttempt: 2 } } }] }), mesh: 'other' };
    assert.deepEqual(computeProxyRules(web, parse([other])), {});
  });

  it('is pure: computing twice gives equal results and leaves the policies untouched', () => {
    const ps = parse([policy('MeshRetry', 'x', { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { http: { retryOn: ['5xx'] } } }] })]);
    const before = JSON.stringify(ps);
    const a = computeProxyRules(web, ps);
    (a.MeshRetry!.toByService['db']!.conf as { http: { retryOn: string[] } }).http.retryOn.push('Reset');
    assert.equal(JSON.stringify(ps), before);
    assert.deepEqual(computeProxyRules(web, ps).MeshRetry!.toByService['db']!.conf, { http: { retryOn: ['5xx'] } });
  });

  it('reports policies its schema rejects instead of throwing', () => {
    const { policies, problems } = parsePolicies([policy('MeshTimeout', 'bad', { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { connectionTimeout: 'soon' } }] })]);
    assert.equal(policies.length, 0);
    assert.match(problems[0] ?? '', /MeshTimeout bad: invalid: spec.to.0.default.connectionTimeout/);
  });
});
