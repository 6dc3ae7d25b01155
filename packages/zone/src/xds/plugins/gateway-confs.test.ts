import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SERVICE_TAG } from '@meshfed/shared';
import { buildRules, mergeConfs, type Rule, RULE_MATCHES_HASH_TAG, type Subset, type ToConf, type TypedRules } from '../rules/index.js';
import { clusterToConfs, computeForElement, listenerToConf, routeToConf, tcpToConf } from './gateway-confs.js';
import type { GatewayClusterDraft, GatewayDraft, GatewayListenerDraft, GatewayRouteDraft, GatewayVirtualHostDraft } from './types.js';

type Conf = ToConf<'MeshTimeout'>;
const svc = (s: string): Subset => [{ key: SERVICE_TAG, value: s }];
const timeout = (requestTimeout: string): Conf => ({ http: { requestTimeout } });

/** `to` rules as the matching step builds them, from (subset, conf, policy) items least specific first. */
function rules(items: [Subset, Conf, string][]): Rule<Conf>[] {
  return buildRules(items.map(([subset, conf, origin]) => ({ subset, conf, origin })), (confs) => mergeConfs(confs)).rules;
}

const KEY = '10.0.0.10:8080';
function typed(byListener: Rule<Conf>[], byHostname: Record<string, Rule<Conf>[]>): TypedRules<'MeshTimeout'> {
  return {
    type: 'MeshTimeout', policies: [], from: {}, to: [], toByService: {}, warnings: [],
    gatewayTo: { byListener: { [KEY]: byListener }, byListenerHostname: Object.fromEntries(Object.entries(byHostname).map(([h, r]) => [`${KEY}:${h}`, r])) },
  };
}

const route = (services: string[], clusters: string[], name?: string): GatewayRouteDraft => ({
  route: { ...(name ? { name } : {}), match: { prefix: '/' }, route: clusters.length === 1 ? { cluster: clusters[0] } : { weighted_clusters: { clusters: clusters.map((c) => ({ name: c, weight: { value: 1 } })) } } },
  services,
});
const vhost = (listenerHostname: string, routes: GatewayRouteDraft[]): GatewayVirtualHostDraft => ({ hostname: listenerHostname, listenerHostname, virtualHost: { name: listenerHostname }, routes });
const httpListener = (vhs: GatewayVirtualHostDraft[]): GatewayListenerDraft => ({
  rulesKey: KEY, name: 'gw:HTTP:8080', port: 8080, protocol: 'HTTP', listener: {}, filters: [], chains: [{}],
  http: { hcm: {}, httpFilters: [], virtualHosts: vhs },
});
const cluster = (name: string, service: string): GatewayClusterDraft => ({ name, service, protocol: 'http', cluster: { name } });
const draftOf = (listeners: GatewayListenerDraft[], clusters: GatewayClusterDraft[]): GatewayDraft => ({ listeners, clusters } as unknown as GatewayDraft);

describe('gateway confs: which conf shapes each part of a builtin gateway', () => {
  const meshAndBackend = rules([[[], timeout('20s'), 'mesh-wide'], [svc('backend'), timeout('5s'), 'backend-only']]);

  it('finds the Mesh conf beside a service\'s own (a negated tag holds where the element lacks its key)', () => {
    assert.equal(computeForElement(meshAndBackend, {})?.conf.http?.requestTimeout, '20s');
    assert.equal(computeForElement(meshAndBackend, { [SERVICE_TAG]: 'backend' })?.conf.http?.requestTimeout, '5s');
    assert.equal(computeForElement(meshAndBackend, { [SERVICE_TAG]: 'web' })?.conf.http?.requestTimeout, '20s');
    assert.deepEqual(computeForElement(meshAndBackend, {})?.origins, ['mesh-wide']);
  });

  it('gives a route of one service that service\'s conf, and a route split across services the Mesh conf, saying what it loses', () => {
    const rs = typed(meshAndBackend, { 'foo.example.com': meshAndBackend });
    const single = route(['backend', 'backend'], ['backend-v1', 'backend-v2']);
    const split = route(['backend', 'web'], ['backend', 'web']);
    const l = httpListener([vhost('foo.example.com', [single, split])]);
    const problems: string[] = [];
    assert.equal(routeToConf(rs, l, l.http!.virtualHosts[0]!, single, problems)?.conf.http?.requestTimeout, '5s');
    assert.deepEqual(problems, []);
    assert.equal(routeToConf(rs, l, l.http!.virtualHosts[0]!, split, problems)?.conf.http?.requestTimeout, '20s');
    assert.equal(problems.length, 1);
    assert.equal(problems[0], 'MeshTimeout backend-only: gateway route gw:HTTP:8080 foo.example.com / splits traffic across backend, web, so it takes the conf for every destination (Mesh) (mesh-wide); the conf of backend alone does not apply to it');
    // Asked again (another plugin pass, another route), the same problem is said once.
    routeToConf(rs, l, l.http!.virtualHosts[0]!, split, problems);
    assert.equal(problems.length, 1);
  });

  it('says nothing of a split whose services all take the Mesh conf', () => {
    const meshOnly = rules([[[], timeout('20s'), 'mesh-wide']]);
    const split = route(['backend', 'web'], ['backend', 'web']);
    const l = httpListener([vhost('*', [split])]);
    const problems: string[] = [];
    assert.equal(routeToConf(typed(meshOnly, { '*': meshOnly }), l, l.http!.virtualHosts[0]!, split, problems)?.conf.http?.requestTimeout, '20s');
    assert.deepEqual(problems, []);
  });

  it('takes a policy on the route\'s MeshHTTPRoute rule (its matches hash, the Envoy route\'s name) over its service\'s', () => {
    const withRoute = rules([[[], timeout('20s'), 'mesh-wide'], [svc('backend'), timeout('5s'), 'backend-only'], [[{ key: RULE_MATCHES_HASH_TAG, value: 'h1' }], timeout('1s'), 'on-route']]);
    const rs = typed(withRoute, { '*': withRoute });
    const hashed = route(['backend'], ['backend'], 'h1');
    const other = route(['backend'], ['backend'], 'h2');
    const l = httpListener([vhost('*', [hashed, other])]);
    assert.equal(routeToConf(rs, l, l.http!.virtualHosts[0]!, hashed)?.conf.http?.requestTimeout, '1s');
    // Merged over what the service and the Mesh give, the route's policy winning.
    assert.deepEqual(routeToConf(rs, l, l.http!.virtualHosts[0]!, hashed)?.origins, ['backend-only', 'mesh-wide', 'on-route']);
    assert.equal(routeToConf(rs, l, l.http!.virtualHosts[0]!, other)?.conf.http?.requestTimeout, '5s');
  });

  it('applies to a listener hostname only the policies selecting it (listener tags narrow to one hostname)', () => {
    const narrow = rules([[[], timeout('2s'), 'bar-only']]);
    const rs = typed(narrow, { 'bar.example.com': narrow });
    const r = route(['web'], ['web']);
    const l = httpListener([vhost('foo.example.com', [r]), vhost('bar.example.com', [r])]);
    assert.equal(routeToConf(rs, l, l.http!.virtualHosts[0]!, r), undefined);
    assert.equal(routeToConf(rs, l, l.http!.virtualHosts[1]!, r)?.conf.http?.requestTimeout, '2s');
    // The listener as a whole (its connection manager) takes every policy on its port, as Kuma's ByListener.
    assert.equal(listenerToConf(rs, l)?.conf.http?.requestTimeout, '2s');
  });

  it('computes each cluster for its service, and says when listener hostnames sharing it disagree (the first one wins)', () => {
    const foo = rules([[[], timeout('20s'), 'foo-policy']]);
    const bar = rules([[[], timeout('2s'), 'bar-policy']]);
    const rs = typed(foo, { 'foo.example.com': foo, 'bar.example.com': bar });
    const l = httpListener([vhost('bar.example.com', [route(['web'], ['web'])]), vhost('foo.example.com', [route(['backend', 'web'], ['backend', 'web'])])]);
    const problems: string[] = [];
    const confs = clusterToConfs(rs, draftOf([l], [cluster('backend', 'backend'), cluster('web', 'web'), cluster('unused', 'db')]), problems);
    assert.deepEqual(confs.map((c) => [c.cluster.name, c.conf.http?.requestTimeout, c.origins]), [['backend', '20s', ['foo-policy']], ['web', '2s', ['bar-policy']]]);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /cluster web serves gw:HTTP:8080 bar.example.com, gw:HTTP:8080 foo.example.com.*bar.example.com \(bar-policy\) applies to all/);
  });

  it('gives a TCP proxy the conf of its one service, or the Mesh conf when it splits', () => {
    const l: GatewayListenerDraft = { rulesKey: KEY, name: 'gw:TCP:8080', port: 8080, protocol: 'TCP', listener: {}, filters: [], chains: [{}], tcpProxy: { weighted_clusters: { clusters: [{ name: 'db-a' }, { name: 'db-b' }] } } };
    const rs = typed(rules([[[], timeout('20s'), 'mesh-wide'], [svc('db'), timeout('5s'), 'db-only']]), {});
    assert.equal(tcpToConf(rs, draftOf([l], [cluster('db-a', 'db'), cluster('db-b', 'db')]), l)?.conf.http?.requestTimeout, '5s');
    const problems: string[] = [];
    assert.equal(tcpToConf(rs, draftOf([l], [cluster('db-a', 'db'), cluster('db-b', 'cache')]), l, problems)?.conf.http?.requestTimeout, '20s');
    assert.equal(problems.length, 1);
  });
});
