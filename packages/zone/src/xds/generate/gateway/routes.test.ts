// Route precedence on a builtin gateway, as an operator checks it: for the routes they write, which
// backend a request reaches (the first Envoy route that matches it, as Envoy picks). One test per
// precedence rule, for MeshGatewayRoutes (Kuma's gateway sorter) and MeshHTTPRoutes on a gateway
// (MeshHTTPRoute's order), and the filters a MeshGatewayRoute rule becomes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gatewayRouteVirtualHosts, type RouteContext } from '../../plugins/mesh-http-route.js';
import type { GatewayVirtualHostDraft } from '../../plugins/index.js';
import type { HTTPRouteRule } from '../../rules/index.js';
import type { GatewayEntry, GatewayRouteEntry } from '../zone-index.js';
import { gatewayRuleAsHttpRule } from './route-filters.js';
import { httpVirtualHosts, type Listener, routesToMissingGateways } from './routes.js';

type Draft = Record<string, unknown>;
interface Request { path: string; method?: string; headers?: Record<string, string>; query?: Record<string, string> }

const stringMatches = (m: Draft, v: string | undefined): boolean => {
  if (v === undefined) return false;
  if ('exact' in m) return v === m['exact'];
  if ('prefix' in m) return v.startsWith(m['prefix'] as string);
  const re = (m['safe_regex'] as { regex: string }).regex;
  return new RegExp(`^(?:${re})$`).test(v);
};

/** Whether Envoy's RouteMatch `m` takes `req` (the fields these routes use). */
function envoyMatches(m: Draft, req: Request): boolean {
  const path = req.path;
  if ('path' in m && path !== m['path']) return false;
  if ('prefix' in m && !path.startsWith(m['prefix'] as string)) return false;
  if ('path_separated_prefix' in m) {
    const p = m['path_separated_prefix'] as string;
    if (path !== p && !path.startsWith(`${p}/`)) return false;
  }
  if ('safe_regex' in m && !new RegExp(`^(?:${(m['safe_regex'] as { regex: string }).regex})$`).test(path)) return false;
  const headers: Record<string, string> = { ...(req.headers ?? {}), ':method': req.method ?? 'GET' };
  for (const h of (m['headers'] as Draft[] | undefined) ?? []) {
    const v = headers[h['name'] as string];
    if ('present_match' in h ? (v !== undefined) !== h['present_match'] : !stringMatches(h['string_match'] as Draft, v)) return false;
  }
  for (const q of (m['query_parameters'] as Draft[] | undefined) ?? []) {
    if (!stringMatches(q['string_match'] as Draft, req.query?.[q['name'] as string])) return false;
  }
  return true;
}

/** Where `req` goes on virtual host `vh`: the first matching route's cluster (or redirect), 404 when none. */
function destination(vh: GatewayVirtualHostDraft, req: Request): string {
  const r = vh.routes.find((x) => envoyMatches(x.route['match'] as Draft, req));
  if (!r) return '404';
  const action = r.route['route'] as Draft | undefined;
  if (!action) return 'redirect';
  return (action['cluster'] as string | undefined) ?? 'weighted';
}

// Every backend has instances here: only the order is under test.
const mesh = { name: 'default', local: { has: () => true }, remote: new Map(), external: new Map(), remoteExternal: new Map(), gateways: [], policies: [] } as never;
const backends = {
  cluster: (service: string, subset?: Record<string, string>) => (subset && Object.keys(subset).length > 0 ? `${service}{${Object.entries(subset).map(([k, v]) => `${k}=${v}`).join(',')}}` : service),
  externalHosts: new Map<string, string>(),
};

type GatewayRule = NonNullable<GatewayRouteEntry['spec']['conf']['http']>['rules'][number];
type Match = GatewayRule['matches'][number];
const to = (service: string, ...matches: Match[]): GatewayRule => ({ matches, backends: [{ destination: { 'kuma.io/service': service } }] });
const route = (name: string, ...rules: GatewayRule[]): GatewayRouteEntry => ({ name, spec: { selectors: [{ match: { 'kuma.io/service': 'gw' } }], conf: { http: { rules } } } });
const listener: Listener = { port: 8080, protocol: 'HTTP' } as Listener;
const gw = { name: 'gw', labels: {}, spec: { selectors: [], conf: { listeners: [listener] } } } as unknown as GatewayEntry;

/** The single virtual host of a `*` listener with `routes` attached. */
function gatewayRouteHost(...routes: GatewayRouteEntry[]): { vh: GatewayVirtualHostDraft; problems: string[] } {
  const problems: string[] = [];
  const [vh] = httpVirtualHosts(gw, [listener], () => routes, mesh, backends as never, problems);
  return { vh: vh!, problems };
}

const prefix = (value: string): Match => ({ path: { match: 'PREFIX', value } });
const exact = (value: string): Match => ({ path: { match: 'EXACT', value } });
const regex = (value: string): Match => ({ path: { match: 'REGEX', value } });

describe('MeshGatewayRoute precedence (Kuma gateway route sorter)', () => {
  test('an exact path wins over a prefix that also matches', () => {
    const { vh } = gatewayRouteHost(route('r', to('a', prefix('/api')), to('b', exact('/api/health'))));
    assert.equal(destination(vh, { path: '/api/health' }), 'b');
    assert.equal(destination(vh, { path: '/api/users' }), 'a');
  });

  test('the longer prefix wins, whatever the rule order; a prefix matches whole segments', () => {
    const { vh } = gatewayRouteHost(route('r', to('a', prefix('/')), to('b', prefix('/api'))));
    assert.equal(destination(vh, { path: '/api/users' }), 'b');
    assert.equal(destination(vh, { path: '/api' }), 'b');
    assert.equal(destination(vh, { path: '/apis' }), 'a');
  });

  test('a prefix wins over a regular expression', () => {
    const { vh } = gatewayRouteHost(route('r', to('a', regex('^/api/.*$')), to('b', prefix('/api'))));
    assert.equal(destination(vh, { path: '/api/users' }), 'b');
  });

  test('the longer regular expression is tried first', () => {
    const { vh } = gatewayRouteHost(route('r', to('a', regex('^/.*$')), to('b', regex('^/items/[0-9]+$'))));
    assert.equal(destination(vh, { path: '/items/42' }), 'b');
    assert.equal(destination(vh, { path: '/other' }), 'a');
  });

  test('a match with a path wins over one without, even with more headers', () => {
    const { vh } = gatewayRouteHost(route('r', to('a', { headers: [{ match: 'PRESENT', name: 'x-canary' }] }), to('b', prefix('/'))));
    assert.equal(destination(vh, { path: '/', headers: { 'x-canary': '1' } }), 'b');
  });

  test('among equal paths, a method wins', () => {
    const { vh } = gatewayRouteHost(route('r', to('a', prefix('/api')), to('b', { ...prefix('/api'), method: 'POST' })));
    assert.equal(destination(vh, { path: '/api', method: 'POST' }), 'b');
    assert.equal(destination(vh, { path: '/api', method: 'GET' }), 'a');
  });

  test('then more header matches win', () => {
    const { vh } = gatewayRouteHost(route('r',
      to('a', { ...prefix('/api'), headers: [{ match: 'EXACT', name: 'x-env', value: 'prod' }] }),
      to('b', { ...prefix('/api'), headers: [{ match: 'EXACT', name: 'x-env', value: 'prod' }, { match: 'PRESENT', name: 'x-canary' }] })));
    assert.equal(destination(vh, { path: '/api', headers: { 'x-env': 'prod', 'x-canary': '1' } }), 'b');
    assert.equal(destination(vh, { path: '/api', headers: { 'x-env': 'prod' } }), 'a');
  });

  test('then more query parameter matches win', () => {
    const { vh } = gatewayRouteHost(route('r',
      to('a', { ...prefix('/api'), queryParameters: [{ match: 'EXACT', name: 'v', value: '1' }] }),
      to('b', { ...prefix('/api'), queryParameters: [{ match: 'EXACT', name: 'v', value: '1' }, { match: 'REGEX', name: 'debug', value: 'true|1' }] })));
    assert.equal(destination(vh, { path: '/api', query: { v: '1', debug: 'true' } }), 'b');
    assert.equal(destination(vh, { path: '/api', query: { v: '1' } }), 'a');
  });

  test('equal matches: the route first by name wins, then the earlier rule', () => {
    const { vh } = gatewayRouteHost(route('z-route', to('b', prefix('/api'))), route('a-route', to('a', prefix('/api')), to('b', prefix('/api'))));
    assert.equal(destination(vh, { path: '/api' }), 'a');
  });

  test('a redirect rule (no backends) is built, and only a PREFIX has a prefix to rewrite', () => {
    const { vh, problems } = gatewayRouteHost(route('r',
      { matches: [exact('/old')], filters: [{ redirect: { scheme: 'https', hostname: 'example.com' } }] },
      { ...to('a', regex('^/x/[0-9]+$')), filters: [{ rewrite: { replacePrefixMatch: '/y' } }] }));
    assert.equal(destination(vh, { path: '/old' }), 'redirect');
    const redirect = vh.routes[0]!.route['redirect'] as Draft;
    assert.deepEqual(redirect, { scheme_redirect: 'https', host_redirect: 'example.com', response_code: 'FOUND', strip_query: true });
    assert.equal((vh.routes[1]!.route['route'] as Draft)['prefix_rewrite'], undefined);
    assert.deepEqual(problems, ['MeshGatewayRoute r rules[1].filters[0].rewrite.replacePrefixMatch: matches[0] is a REGEX path, which has no prefix to replace; the path is not rewritten']);
  });
});

describe('MeshGatewayRoute filters as MeshHTTPRoute filters', () => {
  test('setting host rewrites it; pseudo-headers are left out with the field path', () => {
    const problems: string[] = [];
    const rule = gatewayRuleAsHttpRule({
      ...to('a', prefix('/api')),
      filters: [{ requestHeader: { set: [{ name: 'Host', value: 'api.internal' }, { name: ':path', value: '/x' }, { name: 'x-a', value: '1' }], remove: ['x-b'] } }, { rewrite: { replacePrefixMatch: '/v2/' } }],
    }, 'MeshGatewayRoute r rules[0]', problems);
    assert.deepEqual(rule.default.filters, [
      { type: 'URLRewrite', urlRewrite: { hostname: 'api.internal', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } },
      { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: '1' }], remove: ['x-b'] } },
    ]);
    assert.deepEqual(problems, ['MeshGatewayRoute r rules[0].filters[0].requestHeader.set: Envoy does not let a route set the :path header; it is left out']);
  });

  test('a rule with backends forwards, its redirect ignored (as Kuma); a 0% mirror mirrors nothing', () => {
    const problems: string[] = [];
    const rule = gatewayRuleAsHttpRule({ ...to('a', prefix('/')), filters: [{ redirect: { scheme: 'https', hostname: 'x.example.com' } }, { mirror: { backend: { destination: { 'kuma.io/service': 'b' } }, percentage: 0 } }] }, 'w', problems);
    assert.equal(rule.default.filters, undefined);
    assert.deepEqual(rule.default.backendRefs, [{ kind: 'MeshService', name: 'a', tags: { 'kuma.io/service': 'a' } }]);
    assert.deepEqual(problems, ['w.filters[0].redirect: the rule has backends, so it forwards to them (as Kuma does) and the redirect is ignored']);
  });
});

// MeshHTTPRoutes on a gateway: the listener hostnames of a port and, per listener hostname, the merged
// rules (one per route hostname), as rules/proxy-rules.ts gives them.
type Conf = { rules: HTTPRouteRule[]; hostnames?: string[] };
type HttpMatch = HTTPRouteRule['matches'][number];
const httpRule = (service: string, ...matches: HttpMatch[]): HTTPRouteRule => ({ matches, default: { backendRefs: [{ kind: 'MeshService', name: service }] } }) as HTTPRouteRule;
const rulesAt = (confs: Conf[], origin = 'route') => confs.map((conf) => ({ subset: [], conf, origins: [origin] }));

function meshHttpRouteHosts(listeners: Record<string, Conf[]>): { hosts: GatewayVirtualHostDraft[]; problems: string[] } {
  const problems: string[] = [];
  const ctx: RouteContext = { mesh, backends: backends as never, where: 'gw', problems, gateway: { listenerPort: 8080, externalHost: () => undefined } };
  const hosts = gatewayRouteVirtualHosts(Object.keys(listeners), (lh) => rulesAt(listeners[lh] ?? []) as never, 'MeshGateway gw port 8080', ctx);
  return { hosts: hosts!, problems };
}
const host = (hosts: GatewayVirtualHostDraft[], name: string) => hosts.find((h) => h.hostname === name)!;
const pathPrefix = (value: string): HttpMatch => ({ path: { type: 'PathPrefix', value } });

describe('MeshHTTPRoute precedence on a gateway', () => {
  test('Exact, then the longer PathPrefix, then RegularExpression, then no path', () => {
    const { hosts } = meshHttpRouteHosts({ '*': [{ rules: [
      httpRule('any', { headers: [{ name: 'x', type: 'Present' }] } as HttpMatch),
      httpRule('regex', { path: { type: 'RegularExpression', value: '/api/.*' } }),
      httpRule('root', pathPrefix('/')),
      httpRule('api', pathPrefix('/api')),
      httpRule('health', { path: { type: 'Exact', value: '/api/health' } }),
    ] }] });
    const vh = host(hosts, '*');
    assert.equal(destination(vh, { path: '/api/health' }), 'health');
    assert.equal(destination(vh, { path: '/api/users' }), 'api');
    assert.equal(destination(vh, { path: '/other', headers: { x: '1' } }), 'root');
  });

  test('among equal paths: a method, then more headers, then more query parameters', () => {
    const { hosts } = meshHttpRouteHosts({ '*': [{ rules: [
      httpRule('plain', pathPrefix('/api')),
      httpRule('query', { ...pathPrefix('/api'), queryParams: [{ type: 'Exact', name: 'v', value: '2' }] } as HttpMatch),
      httpRule('header', { ...pathPrefix('/api'), headers: [{ name: 'x-v', value: '2' }] } as HttpMatch),
      httpRule('method', { ...pathPrefix('/api'), method: 'PUT' } as HttpMatch),
    ] }] });
    const vh = host(hosts, '*');
    const all = { path: '/api', method: 'PUT', headers: { 'x-v': '2' }, query: { v: '2' } };
    assert.equal(destination(vh, all), 'method');
    assert.equal(destination(vh, { ...all, method: 'GET' }), 'header');
    assert.equal(destination(vh, { path: '/api', query: { v: '2' } }), 'query');
    assert.equal(destination(vh, { path: '/api' }), 'plain');
  });

  test('routes are named by the hash of their rule matches; equal matches: the more specific hostname wins', () => {
    const { hosts } = meshHttpRouteHosts({ '*': [{ rules: [httpRule('general', pathPrefix('/'))] }, { rules: [httpRule('specific', pathPrefix('/'))], hostnames: ['api.example.com'] }] });
    assert.deepEqual(hosts.map((h) => h.hostname), ['api.example.com', '*']);
    assert.equal(destination(host(hosts, 'api.example.com'), { path: '/' }), 'specific');
    assert.equal(host(hosts, 'api.example.com').routes.length, 1, 'the unreachable general / route is not repeated');
    assert.equal(destination(host(hosts, '*'), { path: '/' }), 'general');
    assert.match(host(hosts, '*').routes[0]!.route['name'] as string, /^[A-Za-z0-9_-]{16}$/);
  });

  test("a listener's own hostname is not served by a wider listener's routes; unattachable hostnames are said", () => {
    const { hosts, problems } = meshHttpRouteHosts({
      'foo.example.com': [{ rules: [httpRule('foo', pathPrefix('/'))] }],
      '*': [{ rules: [httpRule('wild', pathPrefix('/'))], hostnames: ['foo.example.com'] }, { rules: [httpRule('bar', pathPrefix('/'))], hostnames: ['bar.example.com'] }],
    });
    assert.deepEqual(hosts.map((h) => h.hostname), ['bar.example.com', 'foo.example.com', '*']);
    assert.equal(destination(host(hosts, 'foo.example.com'), { path: '/' }), 'foo');
    assert.equal(destination(host(hosts, '*'), { path: '/' }), '404');
    assert.deepEqual(problems, []);
    const other = meshHttpRouteHosts({ 'foo.example.com': [{ rules: [httpRule('x', pathPrefix('/'))], hostnames: ['bar.example.com'] }] });
    assert.deepEqual(other.problems, ['MeshHTTPRoute route: the hostname bar.example.com intersects no listener hostname of MeshGateway gw port 8080 (foo.example.com); its rules are not attached there']);
  });
});

test('a route naming a MeshGateway the mesh does not have is said, with its field', () => {
  const policy = (name: string, gateway: string) => ({ type: 'MeshHTTPRoute', name, mesh: 'default', labels: {}, spec: { targetRef: { kind: 'MeshGateway', name: gateway } } });
  const m = { name: 'default', gateways: [{ name: 'edge', labels: {} }], policies: [policy('ok', 'edge'), policy('typo', 'egde')] } as never;
  assert.deepEqual(routesToMissingGateways(m), ['MeshHTTPRoute typo spec.targetRef: MeshGateway egde does not exist in mesh default; the route is not attached anywhere']);
});
