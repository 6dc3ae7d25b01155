import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli, type CommandTable } from '../cli.js';
import { type RecordedRequest, recordingIo } from '../testing/fakes.js';
import { inspectCommand, problemCell, syncedCell } from './inspect.js';

const COMMANDS: CommandTable = { inspect: inspectCommand };
const BASE = 'http://zone.test:5681';
const at = (n: number) => `2024-01-01T00:00:0${n}Z`;

const acked = (version: string, nonce: string, n = 1) => ({
  lastSent: { version, nonce, at: at(n), resources: 1 }, lastAcked: { version, nonce, at: at(n + 1) }, acks: 1, nacks: 0, state: 'acked',
});

/** Items as a zone CP's `+insights` routes answer them. */
const DATAPLANES = [
  {
    type: 'Dataplane', mesh: 'default', name: 'web', labels: {}, networking: { address: '10.0.0.1' },
    insight: {
      proxyId: 'default.web', connected: true, protocol: 'delta', configVersion: 'AbCdEfGh1234567890', synced: true,
      types: { listener: acked('v1', '1'), cluster: acked('v2', '2'), endpoint: acked('v3', '3'), secret: { acks: 0, nacks: 0, state: 'not-sent' } },
    },
  },
  {
    type: 'Dataplane', mesh: 'default', name: 'api', labels: {}, networking: { address: '10.0.0.2' },
    insight: {
      proxyId: 'default.api', connected: true, protocol: 'sotw', configVersion: 'ZyXw98765', synced: false,
      types: {
        cluster: acked('v2', '2'),
        listener: {
          lastSent: { version: 'v9', nonce: '9', at: at(5), resources: 2 }, lastNack: { version: 'v9', nonce: '9', at: at(6), error: 'invalid  listener\naddress' },
          acks: 0, nacks: 1, state: 'nacked',
        },
      },
    },
  },
  { type: 'Dataplane', mesh: 'default', name: 'db', labels: {}, networking: { address: '10.0.0.3' }, insight: { connected: false, synced: false, types: {}, problem: 'mesh "default" has no CA yet' } },
];
const INGRESSES = [{ type: 'ZoneIngress', name: 'ingress-1', labels: {}, insight: { connected: false, configVersion: 'QQQQQQQQQQ', synced: false, types: {} } }];
const NOT = (value: string) => ({ key: 'kuma.io/service', value, not: true });
const SVC = (value: string) => ({ key: 'kuma.io/service', value });
const RETRY = { http: { numRetries: 5, perTryTimeout: '1s', backOff: { baseInterval: '100ms', maxInterval: '1s' }, retryOn: ['5xx', 'reset'] } };
/** `_rules` as a zone CP answers it. */
const RULES = {
  mesh: 'default', dataplane: 'web',
  rules: {
    MeshTrafficPermission: {
      policies: ['allow-all', 'deny-db'], to: [], toByService: {}, warnings: [],
      from: { '10.0.0.1:8080': [{ subset: [SVC('db')], conf: { action: 'Deny' }, origins: ['allow-all', 'deny-db'] }, { subset: [NOT('db')], conf: { action: 'Allow' }, origins: ['allow-all'] }] },
    },
    MeshTimeout: {
      policies: ['mesh-timeouts', 'backend-timeouts'], from: {}, warnings: [],
      to: [
        { subset: [SVC('backend')], conf: { connectionTimeout: '5s', http: { requestTimeout: '2s' } }, origins: ['backend-timeouts', 'mesh-timeouts'] },
        { subset: [NOT('backend')], conf: { connectionTimeout: '5s', http: { requestTimeout: '15s' } }, origins: ['mesh-timeouts'] },
      ],
      toByService: {
        backend: { conf: { connectionTimeout: '5s', http: { requestTimeout: '2s' } }, origins: ['backend-timeouts', 'mesh-timeouts'] },
        db: { conf: { connectionTimeout: '5s', http: { requestTimeout: '15s' } }, origins: ['mesh-timeouts'] },
      },
    },
    MeshRetry: { policies: ['retry-all'], from: {}, to: [{ subset: [], conf: RETRY, origins: ['retry-all'] }], toByService: {}, warnings: [] },
  },
  warnings: ["MeshTimeout route-timeouts: can't resolve MeshHTTPRoute missing"],
};
const DUMP = { configs: [{ '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump', version_info: 'v1' }] };

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** A zone CP's inspect API: `+insights` lists paged one item a page, single items, `/xds`. */
function fakeZone() {
  const requests: RecordedRequest[] = [];
  const fetchFn: typeof fetch = async (input) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    requests.push({ method: 'GET', url: url.href, headers: {} });
    const lists: Record<string, readonly Record<string, unknown>[]> = {
      '/meshes/default/dataplanes+insights': DATAPLANES, '/dataplanes+insights': DATAPLANES, '/zoneingresses+insights': INGRESSES, '/zoneegresses+insights': [],
    };
    const list = lists[url.pathname];
    if (list) {
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const next = offset + 1 < list.length ? `${BASE}${url.pathname}?size=1&offset=${offset + 1}` : null;
      return json(200, { total: list.length, items: list.slice(offset, offset + 1), next });
    }
    if (url.pathname === '/meshes/default/dataplanes+insights/web') return json(200, DATAPLANES[0]);
    if (url.pathname === '/meshes/default/dataplanes/web/xds') return json(200, DUMP);
    if (url.pathname === '/meshes/default/dataplanes/web/_rules') return json(200, RULES);
    if (url.pathname === '/meshes/m2/dataplanes/lonely/_rules') return json(200, { mesh: 'm2', dataplane: 'lonely', rules: {}, warnings: [] });
    if (url.pathname === '/meshes/default/dataplanes/nope/_rules') {
      return json(404, { title: 'Not found', details: 'Dataplane "nope" in mesh "default" does not exist', causes: [] });
    }
    if (url.pathname === '/meshes/default/dataplanes/db/xds') {
      return json(404, { title: 'Not found', details: 'Dataplane "db" in mesh "default" has no configuration computed yet: mesh "default" has no CA yet', causes: [] });
    }
    return json(404, { title: 'Not found', details: `no API path GET ${url.pathname}`, causes: [] });
  };
  return { fetch: fetchFn, requests };
}

async function run(args: string[]) {
  const zone = fakeZone();
  const io = recordingIo({ fetch: zone.fetch, env: { MESHFED_CP: BASE } });
  const code = await runCli(['inspect', ...args], COMMANDS, io);
  return { code, out: io.stdout(), err: io.stderr(), requests: zone.requests };
}

describe('meshfed inspect', () => {
  it('lists dataplanes with their xDS state, following pages', async () => {
    const r = await run(['dataplanes', '--mesh', 'default']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, [
      'MESH      NAME   CONNECTED   PROTOCOL   CONFIG VERSION   SYNCED          LAST NACK/PROBLEM',
      'default   web    yes         delta      AbCdEfGh         3/3 acked       -',
      'default   api    yes         sotw       ZyXw9876         NACK listener   listener: invalid listener address',
      'default   db     no          -          -                -               mesh "default" has no CA yet',
      '',
    ].join('\n'));
    assert.deepEqual(r.requests.map((q) => new URL(q.url).search), ['', '?size=1&offset=1', '?size=1&offset=2']);
  });

  it('takes the aliases of get, and lists zone ingresses without a MESH column', async () => {
    const r = await run(['zone-ingresses']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^NAME {8}CONNECTED {3}PROTOCOL {3}CONFIG VERSION {3}SYNCED {3}LAST NACK\/PROBLEM\ningress-1 {3}no {10}- {10}QQQQQQQQ {9}- {8}-\n$/);
    const egresses = await run(['zoneegresses']);
    assert.equal(egresses.out, '');
    assert.equal(egresses.err, 'No zoneegresses found.\n');
    assert.equal(new URL((await run(['dp', '-A'])).requests[0]!.url).pathname, '/dataplanes+insights');
  });

  it('prints one proxy, and -o json / yaml', async () => {
    const one = await run(['dataplane', 'web']);
    assert.match(one.out, /^MESH +NAME .*\ndefault +web +yes +delta +AbCdEfGh +3\/3 acked +-\n$/);
    const list = JSON.parse((await run(['dps', '-o', 'json'])).out);
    assert.equal(list.total, 3);
    assert.equal(list.items[1].insight.types.listener.lastNack.error, 'invalid  listener\naddress');
    const yaml = (await run(['dps', '-o', 'yaml'])).out;
    assert.equal(yaml.split('---\n').length, 3);
    assert.match(yaml, /^type: Dataplane\nmesh: default\nname: web\n/);
  });

  it('prints a config dump as JSON, restricted with --type', async () => {
    const r = await run(['dataplane', 'web', '--mesh', 'default', '--config-dump', '--type', 'listener,cluster']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), DUMP);
    assert.equal(new URL(r.requests[0]!.url).searchParams.get('type'), 'listener,cluster');
    assert.match((await run(['dp', 'web', '--config-dump', '-o', 'yaml'])).out, /^configs:\n {2}- "@type": type\.googleapis\.com\/envoy\.admin\.v3\.ListenersConfigDump\n/);
  });

  it('says why there is no config dump yet', async () => {
    const r = await run(['dataplane', 'db', '--config-dump']);
    assert.equal(r.code, 1);
    assert.match(r.err, /has no configuration computed yet: mesh "default" has no CA yet/);
  });

  it('--rules prints one row per rule: from per inbound, to by subset, then per destination service', async () => {
    const r = await run(['dataplane', 'web', '--rules']);
    assert.equal(r.code, 0, r.err);
    assert.equal(new URL(r.requests[0]!.url).pathname, '/meshes/default/dataplanes/web/_rules');
    assert.equal(r.out, [
      'TYPE                    SIDE   WHERE           SUBSET                     CONF                                                           POLICIES',
      'MeshTrafficPermission   from   10.0.0.1:8080   kuma.io/service=db         {"action":"Deny"}                                              allow-all,deny-db',
      'MeshTrafficPermission   from   10.0.0.1:8080   kuma.io/service!=db        {"action":"Allow"}                                             allow-all',
      'MeshTimeout             to     *               kuma.io/service=backend    {"connectionTimeout":"5s","http":{"requestTimeout":"2s"}}      backend-timeouts,mesh-timeouts',
      'MeshTimeout             to     *               kuma.io/service!=backend   {"connectionTimeout":"5s","http":{"requestTimeout":"15s"}}     mesh-timeouts',
      'MeshTimeout             to     backend         kuma.io/service=backend    {"connectionTimeout":"5s","http":{"requestTimeout":"2s"}}      backend-timeouts,mesh-timeouts',
      'MeshTimeout             to     db              kuma.io/service=db         {"connectionTimeout":"5s","http":{"requestTimeout":"15s"}}     mesh-timeouts',
      'MeshRetry               to     *               *                          {"http":{"numRetries":5,"perTryTimeout":"1s","backOff":{"ba…   retry-all',
      '',
    ].join('\n'));
    assert.equal(r.err, "warning: MeshTimeout route-timeouts: can't resolve MeshHTTPRoute missing\n");
  });

  it('--rules -o yaml / json print the answer whole; no rules and a missing dataplane are said', async () => {
    assert.deepEqual(JSON.parse((await run(['dp', 'web', '--rules', '-o', 'json'])).out), RULES);
    assert.match((await run(['dp', 'web', '--rules', '-o', 'yaml'])).out, /^mesh: default\ndataplane: web\nrules:\n {2}MeshTrafficPermission:\n {4}policies:\n {6}- allow-all\n/);
    const none = await run(['dp', 'lonely', '--rules', '--mesh', 'm2']);
    assert.deepEqual([none.code, none.out, none.err], [0, '', 'No policy selects Dataplane "lonely" in mesh "m2".\n']);
    const missing = await run(['dp', 'nope', '--rules']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /Dataplane "nope" in mesh "default" does not exist/);
  });

  it('answers usage mistakes with exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [[], /missing TYPE/],
      [['meshes'], /cannot inspect "meshes": inspect takes zones, meshgateways, dataplanes, zoneingresses or zoneegresses/],
      [['meshgateways', '--rules'], /--rules applies to proxies, not to meshgateways: inspect a gateway instance as a dataplane/],
      [['gateways', '-A'], /--all-meshes applies to proxies, not to meshgateways/],
      [['pods'], /cannot inspect "pods"/],
      [['dp', '--config-dump'], /--config-dump shows one proxy: give its NAME/],
      [['dp', 'web', '--type', 'listener'], /use it with --config-dump/],
      [['dp', 'web', '--config-dump', '--type', 'listeners'], /--type "listeners" is not one of listener, cluster/],
      [['dp', 'web', '--config-dump', '-o', 'table'], /json or yaml, not as a table/],
      [['zoneegresses', '--mesh', 'x'], /not mesh-scoped/],
      [['dp', 'web', '-A'], /cannot be used with a NAME/],
      [['dp', '--rules'], /--rules shows one dataplane: give its NAME/],
      [['dp', 'web', '--rules', '--config-dump'], /--rules and --config-dump show different things: choose one/],
      [['zoneingress', 'ingress-1', '--rules'], /--rules shows a dataplane's policy rules; zoneingresses are not matched to policies/],
      [['zones', '--rules'], /--rules applies to proxies, not to zones/],
      [['dp', 'web', '--rules', '--type', 'listener'], /use it with --config-dump/],
      [['dp', 'web', '--rules', '-o', 'wide'], /unknown output format "wide"/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, message);
      assert.equal(r.requests.length, 0);
    }
  });
});

describe('inspect cells', () => {
  it('judge sync from nonces when the control plane gives no state', () => {
    const item = (types: Record<string, unknown>) => ({ type: 'Dataplane', name: 'x', insight: { types } });
    assert.equal(syncedCell(item({})), '-');
    assert.equal(syncedCell(item({ listener: { lastSent: { nonce: '2' }, lastAcked: { nonce: '2' } }, cluster: { lastSent: { nonce: '3' }, lastAcked: { nonce: '1' } } })), '1/2 acked');
    assert.equal(syncedCell(item({ route: { lastSent: { nonce: '4' }, lastNack: { nonce: '4' } } })), 'NACK route');
    const long = 'x'.repeat(100);
    assert.equal(problemCell(item({ a: { lastNack: { at: at(1), error: 'old' } }, b: { lastNack: { at: at(2), error: long } } })).length, 60);
    assert.equal(problemCell(item({ a: { lastNack: { at: at(3), error: 'newest' } }, b: { lastNack: { at: at(2), error: 'older' } } })), 'a: newest');
  });
});
