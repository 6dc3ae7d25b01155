// `meshfed get zones` and `meshfed inspect zones` against a fake global CP (and a zone CP that has no zone insights).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KdsTypeStat, ZoneOverview, ZoneSubscription } from '@meshfed/shared/resources';
import { parse } from 'yaml';
import { runCli, type CommandTable } from '../cli.js';
import { type RecordedRequest, recordingIo } from '../testing/fakes.js';
import { getCommand } from './get.js';
import { zoneSyncedCell } from './inspect-zones.js';
import { inspectCommand } from './inspect.js';

const COMMANDS: CommandTable = { get: getCommand, inspect: inspectCommand };
const BASE = 'http://global.test:5681';
const NOW = Date.parse('2024-01-01T00:00:00Z'); // recordingIo's clock
const ago = (seconds: number) => new Date(NOW - seconds * 1000).toISOString();

const stat = (s: Partial<KdsTypeStat>): KdsTypeStat => ({
  sent: 0, acked: 0, rejected: 0, refusedTotal: 0, refused: [], applied: 0, resourcesApplied: 0, removalsApplied: 0, resourcesRejected: 0, ...s,
});

function subscription(s: { id: string; connected: number; disconnected?: number; updated: number; sent: number; rejected: number; stat?: ZoneSubscription['status']['stat'] }): ZoneSubscription {
  return {
    id: s.id, globalInstanceId: 'global-a', connectTime: ago(s.connected), ...(s.disconnected !== undefined ? { disconnectTime: ago(s.disconnected) } : {}),
    cpVersion: '0.1.0', zoneCpVersion: '0.1.0',
    status: { lastUpdateTime: ago(s.updated), total: { sent: s.sent, acked: s.sent - s.rejected, rejected: s.rejected, refused: 0 }, stat: s.stat ?? {}, protocolErrors: {}, stalls: 0 },
  };
}

const overview = (name: string, o: Partial<ZoneOverview>): ZoneOverview => ({
  type: 'ZoneInsight', name, creationTime: ago(86400), modificationTime: ago(86400), labels: {}, enabled: true, online: false,
  lastConnectTime: null, lastDisconnectTime: null, lastHealthCheckTime: null, cpVersion: null, zoneCpVersion: null, globalInstanceId: null, subscriptions: [], ...o,
});

/** As global's `/zones+insights` answers: zone-1 online with Mesh NACKed, zone-2 gone for 3m, zone-3 never connected. */
const OVERVIEWS: ZoneOverview[] = [
  overview('zone-1', {
    online: true, lastConnectTime: ago(7200), lastHealthCheckTime: ago(2), lastDisconnectTime: ago(7300), cpVersion: '0.1.0', zoneCpVersion: '0.1.0', globalInstanceId: 'global-a',
    subscriptions: [
      subscription({ id: '1', connected: 9000, disconnected: 7300, updated: 7400, sent: 5, rejected: 1 }),
      subscription({
        id: '2', connected: 7200, updated: 5, sent: 40, rejected: 1,
        stat: {
          Mesh: { 'global-to-zone': stat({ sent: 3, acked: 2, rejected: 1, lastSentVersion: 'm3', lastAckedVersion: 'm2', lastNack: { version: 'm3', error: 'spec.x: unknown field', time: ago(5), rejected: [] } }) },
          Secret: { 'global-to-zone': stat({ sent: 2, acked: 2, lastSentVersion: 's2', lastAckedVersion: 's2' }) },
          Dataplane: { 'zone-to-global': stat({ applied: 4, resourcesApplied: 4 }) },
        },
      }),
    ],
  }),
  overview('zone-2', {
    lastConnectTime: ago(3600), lastDisconnectTime: ago(180), cpVersion: '0.1.0', zoneCpVersion: '0.0.9', globalInstanceId: 'global-a',
    subscriptions: [subscription({ id: '3', connected: 3600, disconnected: 180, updated: 600, sent: 12, rejected: 0 })],
  }),
  overview('zone-3', {}),
];
const ZONES = OVERVIEWS.map((o) => ({ type: 'Zone', name: o.name, creationTime: o.creationTime, modificationTime: o.modificationTime, labels: {}, enabled: true }));

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** Global's zone routes, a page per item; or a zone CP, which answers `/zones+insights` with why not. */
function fakeCp(mode: 'global' | 'zone', state: { overviews: readonly ZoneOverview[]; zones: readonly Record<string, unknown>[] } = { overviews: OVERVIEWS, zones: ZONES }) {
  const requests: RecordedRequest[] = [];
  const fetchFn: typeof fetch = async (input) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    requests.push({ method: 'GET', url: url.href, headers: {} });
    const path = decodeURIComponent(url.pathname);
    const page = (list: readonly unknown[]) => {
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const next = offset + 1 < list.length ? `${BASE}${url.pathname}?size=1&offset=${offset + 1}` : null;
      return json(200, { total: list.length, items: list.slice(offset, offset + 1), next });
    };
    const one = (list: readonly { name?: unknown }[], name: string) =>
      list.find((r) => r.name === name) ?? json(404, { title: 'Not found', details: `Zone "${name}" does not exist`, causes: [] });
    if (path.startsWith('/zones+insights') && mode === 'zone') {
      return json(400, { title: 'Not served here', details: 'zone insights are kept by the global control plane, which zones connect to: this is a zone control plane. Run "meshfed inspect zones --cp <global API URL>"', causes: [] });
    }
    if (path === '/zones+insights') return page(state.overviews);
    if (path === '/zones') return page(state.zones);
    const [, base, name] = path.match(/^\/(zones\+insights|zones)\/(.+)$/) ?? [];
    if (name !== undefined) {
      const found = one(base === 'zones' ? state.zones : state.overviews, name);
      return found instanceof Response ? found : json(200, found);
    }
    return json(404, { title: 'Not found', details: `no API path GET ${url.pathname}`, causes: [] });
  };
  return { fetch: fetchFn, requests };
}

async function run(args: string[], cp = fakeCp('global')) {
  const io = recordingIo({ fetch: cp.fetch, env: { MESHFED_CP: BASE } });
  const code = await runCli(args, COMMANDS, io);
  return { code, out: io.stdout(), err: io.stderr(), paths: cp.requests.map((q) => new URL(q.url).pathname) };
}

describe('meshfed get zones', () => {
  it('shows each zone as Online or Offline, when it last connected and its zone CP version', async () => {
    const r = await run(['get', 'zones']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, [
      'NAME     STATUS    ENABLED   LAST CONNECTED AGO   ZONE-CP VERSION   AGE',
      'zone-1   Online    yes       2h                   0.1.0             1d',
      'zone-2   Offline   yes       1h                   0.0.9             1d',
      'zone-3   Offline   yes       never                -                 1d',
      '',
    ].join('\n'));
    assert.deepEqual(new Set(r.paths), new Set(['/zones+insights']));
  });

  it('shows one zone, and a disabled zone as Offline', async () => {
    const disabled = fakeCp('global', { overviews: [{ ...OVERVIEWS[0]!, enabled: false }], zones: ZONES });
    const r = await run(['get', 'zone', 'zone-1'], disabled);
    assert.equal(r.out, 'NAME     STATUS    ENABLED   LAST CONNECTED AGO   ZONE-CP VERSION   AGE\nzone-1   Offline   no        2h                   0.1.0             1d\n');
    const missing = await run(['get', 'zone', 'zone-9']);
    assert.equal(missing.code, 1);
    assert.equal(missing.err, 'Error: Zone "zone-9" not found (404)\n');
  });

  it('prints the Zone resources as stored with -o yaml and -o json, not their insights', async () => {
    const yaml = await run(['get', 'zones', '-o', 'yaml']);
    assert.equal(yaml.code, 0, yaml.err);
    assert.match(yaml.out, /^type: Zone\nname: zone-1\n/);
    assert.doesNotMatch(yaml.out, /online|subscriptions/);
    const list = JSON.parse((await run(['get', 'zones', '-o', 'json'])).out);
    assert.deepEqual(list, { total: 3, items: ZONES, next: null });
    assert.deepEqual(new Set((await run(['get', 'zone', 'zone-2', '-o', 'json'])).paths), new Set(['/zones/zone-2']));
  });

  it('shows the plain resources on a control plane without zone insights', async () => {
    const r = await run(['get', 'zones'], fakeCp('zone'));
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'NAME     ENABLED   AGE\nzone-1   yes       1d\nzone-2   yes       1d\nzone-3   yes       1d\n');
    const none = await run(['get', 'zones'], fakeCp('zone', { overviews: [], zones: [] }));
    assert.equal(none.err, 'No zones found.\n');
  });
});

describe('meshfed inspect zones', () => {
  it("lists zones with kumactl's columns and what global sent each online zone", async () => {
    const r = await run(['inspect', 'zones']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, [
      'NAME     STATUS    LAST CONNECTED AGO   LAST UPDATED AGO   TOTAL UPDATES   TOTAL ERRORS   ZONE-CP VERSION   SYNCED',
      'zone-1   Online    2h                   5s                 45              2              0.1.0             NACK Mesh',
      'zone-2   Offline   1h                   3m                 12              0              0.0.9             -',
      'zone-3   Offline   never                never              0               0              -                 -',
      '',
    ].join('\n'));
  });

  it('shows one zone, and prints insights with -o yaml and -o json', async () => {
    const one = await run(['inspect', 'zone', 'zone-2']);
    assert.match(one.out, /^NAME +STATUS .*\nzone-2 +Offline +1h +3m +12 +0 +0\.0\.9 +-\n$/);
    const yaml = parse((await run(['inspect', 'zone', 'zone-1', '-o', 'yaml'])).out);
    assert.equal(yaml.subscriptions[1].status.stat.Mesh['global-to-zone'].lastNack.error, 'spec.x: unknown field');
    const list = JSON.parse((await run(['inspect', 'zones', '-o', 'json'])).out);
    assert.deepEqual(list, { total: 3, items: OVERVIEWS, next: null });
    const docs = (await run(['inspect', 'zones', '-o', 'yaml'])).out.split('---\n');
    assert.deepEqual(docs.map((d) => parse(d).name), ['zone-1', 'zone-2', 'zone-3']);
  });

  it('prints an empty list with -o yaml and -o json, and says so in a table', async () => {
    const empty = () => fakeCp('global', { overviews: [], zones: [] });
    assert.equal((await run(['inspect', 'zones', '-o', 'yaml'], empty())).out, '[]\n');
    assert.deepEqual(JSON.parse((await run(['inspect', 'zones', '-o', 'json'], empty())).out), { total: 0, items: [], next: null });
    const table = await run(['inspect', 'zones'], empty());
    assert.deepEqual([table.code, table.out, table.err], [0, '', 'No zones found.\n']);
  });

  it('says which zone is missing', async () => {
    const missing = await run(['inspect', 'zone', 'zone-9']);
    assert.equal(missing.err, 'Error: Zone "zone-9" not found (404)\n');
  });

  it('refuses the flags of proxies', async () => {
    for (const args of [['--mesh', 'default'], ['-A'], ['--config-dump'], ['--type', 'listener']]) {
      const r = await run(['inspect', 'zones', ...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, /^Error: --[a-z-]+ applies to proxies, not to zones\n/);
      assert.equal(r.paths.length, 0);
    }
  });

  it('is in the usage and in the help of inspect', async () => {
    const usage = await run(['--help']);
    assert.match(usage.out, /\n {2}inspect +Show zones' and proxies' sync state, or a proxy's Envoy config\n/);
    const help = await run(['inspect', '--help']);
    assert.match(help.out, /\n {2}meshfed inspect zones \[NAME\] \[flags\] +zones with their KDS state \(global CP\)\n/);
    assert.match(help.out, /\nColumns of zones:\n {2}STATUS +Online, or Offline/);
  });

  it('judges the sync of each type from the versions global sent and the zone ACKed', () => {
    const online = (stat: ZoneSubscription['status']['stat']) =>
      overview('z', { online: true, subscriptions: [subscription({ id: '1', connected: 60, updated: 1, sent: 3, rejected: 0, stat })] });
    const acked = stat({ sent: 1, acked: 1, lastSentVersion: 'a', lastAckedVersion: 'a' });
    const waiting = stat({ sent: 2, acked: 1, lastSentVersion: 'b', lastAckedVersion: 'a' });
    assert.equal(zoneSyncedCell(online({ Mesh: { 'global-to-zone': acked }, Secret: { 'global-to-zone': acked } })), '2/2 acked');
    assert.equal(zoneSyncedCell(online({ Mesh: { 'global-to-zone': acked }, Secret: { 'global-to-zone': waiting } })), '1/2 acked');
    assert.equal(zoneSyncedCell(online({ Dataplane: { 'zone-to-global': stat({ applied: 3 }) } })), '-');
  });
});
