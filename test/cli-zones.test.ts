// The CLI against global's and a zone's real REST routes, served in this process: what a user sees of
// zones (get, inspect) and of proxies asked of the wrong control plane.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildApiServer, type CpMode, createLogger, InProcessEventBus, MemoryStore, Telemetry } from '@meshfed/shared';
import type { FastifyInstance } from 'fastify';
import { parse } from 'yaml';
import { registerInsightRoutes, ZoneInsights, ZoneInventory } from '../packages/global/src/insights/index.js';
import { runCli, type CommandTable } from '../packages/ctl/src/cli.js';
import { getCommand } from '../packages/ctl/src/commands/get.js';
import { inspectCommand } from '../packages/ctl/src/commands/inspect.js';
import { recordingIo } from '../packages/ctl/src/testing/fakes.js';
import { refuseZoneInsights } from '../packages/zone/src/zone-insight-routes.js';

const COMMANDS: CommandTable = { get: getCommand, inspect: inspectCommand };
const log = createLogger({ component: 'test', level: 'fatal' });

async function serve(mode: CpMode, routes: (app: FastifyInstance) => void) {
  const store = new MemoryStore(new InProcessEventBus());
  const telemetry = new Telemetry({ service: 'test' });
  const app = buildApiServer({ mode, store, log, telemetry, extraRoutes: routes });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, store, url, close: async () => { await app.close(); await telemetry.shutdown(); } };
}

async function meshfed(cp: string, ...args: string[]) {
  const io = recordingIo({ fetch: globalThis.fetch, env: { MESHFED_CP: cp }, now: Date.now() });
  const code = await runCli(args, COMMANDS, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

describe('meshfed against global', () => {
  let global: Awaited<ReturnType<typeof serve>>;
  let insights: ZoneInsights;

  before(async () => {
    const store = new MemoryStore(new InProcessEventBus());
    insights = new ZoneInsights({ store, log, instanceId: 'global-a', cpVersion: '0.1.0', healthCheckIntervalMs: 10_000, flushIntervalMs: 20 });
    insights.start();
    global = await serve('global', (app) => registerInsightRoutes(app, { store, insights }));
    // The routes read the store given to them; so do the Zones the inventory admits.
    const inventory = new ZoneInventory({ store });
    await inventory.admit('zone-1');
    await inventory.admit('zone-2'); // admitted, never connected
    const s = insights.connect('zone-1', { zoneCpVersion: '0.0.9', streamId: 'stream-1' });
    s.observer.sent('Mesh', 'global-to-zone', { nonce: 'n1', version: 'v1', resources: 1, removals: 0, bytes: 10 });
    s.observer.acked('Mesh', 'global-to-zone', { nonce: 'n1', version: 'v1', latencyMs: 2 });
    s.healthCheck();
    await insights.flush();
  });
  after(async () => {
    await global.close();
    await insights.stop();
  });

  test('get zones shows which zone is online', async () => {
    const r = await meshfed(global.url, 'get', 'zones');
    assert.equal(r.code, 0, r.err);
    const [header, ...rows] = r.out.trimEnd().split('\n');
    assert.match(header!, /^NAME +STATUS +ENABLED +LAST CONNECTED AGO +ZONE-CP VERSION +AGE$/);
    assert.match(rows[0]!, /^zone-1 +Online +yes +\d+s +0\.0\.9 +\d+s$/);
    assert.match(rows[1]!, /^zone-2 +Offline +yes +never +- +\d+s$/);
  });

  test('inspect zones shows their KDS state; -o yaml the insight', async () => {
    const r = await meshfed(global.url, 'inspect', 'zones');
    assert.equal(r.code, 0, r.err);
    const [header, ...rows] = r.out.trimEnd().split('\n');
    assert.match(header!, /^NAME +STATUS +LAST CONNECTED AGO +LAST UPDATED AGO +TOTAL UPDATES +TOTAL ERRORS +ZONE-CP VERSION +SYNCED$/);
    assert.match(rows[0]!, /^zone-1 +Online +\d+s +\d+s +1 +0 +0\.0\.9 +1\/1 acked$/);
    assert.match(rows[1]!, /^zone-2 +Offline +never +never +0 +0 +- +-$/);
    const yaml = await meshfed(global.url, 'inspect', 'zone', 'zone-1', '-o', 'yaml');
    const zone1 = parse(yaml.out);
    assert.deepEqual([zone1.type, zone1.name, zone1.online], ['ZoneInsight', 'zone-1', true]);
    assert.equal(zone1.subscriptions[0].status.stat.Mesh['global-to-zone'].lastAckedVersion, 'v1');
  });

  test('inspect of proxies says that they are inspected on their zone, and which zones there are', async () => {
    const list = await meshfed(global.url, 'inspect', 'dataplanes');
    assert.equal(list.code, 1);
    assert.equal(list.out, '');
    assert.equal(list.err, [
      'Error: dataplanes in mesh "default" with insights: not served here (400)',
      '  the global control plane does not hold proxy insights: proxies connect to the control plane of their zone, which does. ' +
        'Run "meshfed inspect dataplanes --cp <zone CP API URL>"; zones: zone-1, zone-2',
      '',
    ].join('\n'));
    const egresses = await meshfed(global.url, 'inspect', 'zoneegresses');
    assert.match(egresses.err, /Run "meshfed inspect zoneegresses --cp <zone CP API URL>"; zones: zone-1, zone-2\n$/);
    const dump = await meshfed(global.url, 'inspect', 'dataplane', 'web', '--config-dump');
    assert.equal(dump.code, 1);
    assert.match(dump.err, /^Error: Not served here \(400\)\n {2}the global control plane does not hold proxies' Envoy configuration: .*"meshfed inspect dataplanes NAME --config-dump --cp <zone CP API URL>"; zones: zone-1, zone-2\n$/);
  });
});

describe('meshfed against a zone CP', () => {
  let zone: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    zone = await serve('zone', (app) => refuseZoneInsights(app, true));
  });
  after(() => zone.close());

  test('inspect zones says where zone insights are; get zones lists the resources', async () => {
    const r = await meshfed(zone.url, 'inspect', 'zones');
    assert.equal(r.code, 1);
    assert.equal(r.err, [
      'Error: zones with insights: not served here (400)',
      '  zone insights are kept by the global control plane, which zones connect to: this is a zone control plane. Run "meshfed inspect zones --cp <global API URL>"',
      '',
    ].join('\n'));
    const get = await meshfed(zone.url, 'get', 'zones');
    assert.deepEqual([get.code, get.out, get.err], [0, '', 'No zones found.\n']);
    const yaml = await meshfed(zone.url, 'get', 'zones', '-o', 'yaml');
    assert.deepEqual([yaml.code, yaml.out], [0, '[]\n']);
  });
});
