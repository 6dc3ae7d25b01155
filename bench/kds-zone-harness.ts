// One meshfed zone CP federated to the bench's global, in its own process, for `npm run bench -- kds`.
// It subscribes to the zone's event bus (no polling) and reports over IPC each MeshTimeout that lands
// in the zone's store, with the wall-clock time it was committed there.
import { Writable } from 'node:stream';
import { createLogger, defaultPoliciesFor, LABEL_ORIGIN, listAll, parseFlags, type ResourceChangedEvent } from '@meshfed/shared';
import { startZone, ZoneFlags } from '@meshfed/zone';
import { digestOf } from './kds-digest.js';
import { idleTimeoutOf, isFromBench, MESH, send, usage, wall, type ZoneHarnessConfig } from './kds-proc.js';

const cfg = JSON.parse(process.env.BENCH_KDS_HARNESS ?? '{}') as ZoneHarnessConfig;
// Global gives the mesh its default MeshTimeouts when it makes it; they come from global too, but are not the bench's.
const DEFAULT_TIMEOUTS = defaultPoliciesFor(MESH).create.filter((p) => p.type === 'MeshTimeout').map((p) => p.name);
let armed = cfg.armed;

// The zone's own log: the KDS link's state changes are reported, warnings and errors kept on stderr.
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      try {
        const l = JSON.parse(line) as { level?: string; msg?: string };
        const state = /^KDS: \w+ -> (\w+)$/.exec(l.msg ?? '')?.[1];
        if (state) send({ kind: 'link', state, at: wall() });
        if (l.level !== 'info' && l.level !== 'debug' && l.level !== 'trace') process.stderr.write(`${line}\n`);
      } catch {
        process.stderr.write(`${line}\n`);
      }
    }
    cb();
  },
});
const log = createLogger({ component: 'zone', zone: cfg.zone, level: 'info', destination: sink });

const argv = [
  '--zone', cfg.zone, '--global-address', `grpc://127.0.0.1:${cfg.kdsPort}`, '--zone-token-file', cfg.tokenFile,
  '--api-address', '127.0.0.1', '--api-port', '0', '--api-tls-port', '0', '--xds-port', '0', '--store', cfg.store,
  '--kds-backoff-base', '100ms', '--kds-backoff-max', '1s',
  ...(cfg.postgresUrl ? ['--postgres-url', cfg.postgresUrl] : []),
];

try {
  send({ kind: 'starting', at: wall() });
  const cp = await startZone(parseFlags(ZoneFlags, argv, {}), log);
  // Synced once the store holds `expect` MeshTimeouts: checked at start and after each commit's events
  // (no polling); every bench MeshTimeout comes from global.
  let synced = false;
  let checking = false;
  let again = false;
  const checkSynced = async (): Promise<void> => {
    if (synced) return;
    if (checking) {
      again = true;
      return;
    }
    checking = true;
    try {
      do {
        again = false;
        const { total: all } = await cp.store.list('MeshTimeout', { mesh: MESH, limit: 1 });
        const defaults = (await Promise.all(DEFAULT_TIMEOUTS.map((name) => cp.store.get({ type: 'MeshTimeout', mesh: MESH, name })))).filter(Boolean).length;
        const total = all - defaults;
        if (total >= cfg.expect) {
          synced = true;
          send({ kind: 'synced', at: wall(), count: total });
        }
      } while (again && !synced);
    } finally {
      checking = false;
    }
  };
  const seen = new Set<string>();
  const fromGlobal = (e: { type: string; mesh?: string | undefined; labels: Readonly<Record<string, string>> }) =>
    e.type === 'MeshTimeout' && e.mesh === MESH && e.labels[LABEL_ORIGIN] === 'global';
  cp.bus.subscribe((events: readonly ResourceChangedEvent[]) => {
    const at = wall();
    let relevant = false;
    for (const e of events) {
      if (!fromGlobal(e) || e.op === 'delete' || DEFAULT_TIMEOUTS.includes(e.name)) continue;
      relevant = true;
      if (!armed) continue;
      seen.add(e.name);
      send({ kind: 'arrived', name: e.name, at });
    }
    if (relevant && !synced) checkSynced().catch((err: Error) => send({ kind: 'failed', error: err.stack ?? err.message }));
  });
  // A watched change may have landed before the subscription (the sync starts inside startZone):
  // then its arrival is the time it was committed, from the store.
  for (const [name, idle] of Object.entries(cfg.watch ?? {})) {
    if (seen.has(name)) continue;
    const r = await cp.store.get({ type: 'MeshTimeout', mesh: MESH, name });
    if (r && !seen.has(name) && fromGlobal(r) && idleTimeoutOf(r.spec) === idle) send({ kind: 'arrived', name, at: Date.parse(r.modificationTime), early: true });
  }
  process.on('message', (raw) => {
    if (!isFromBench(raw)) return;
    const m = raw;
    void (async () => {
      if (m.cmd === 'arm') {
        armed = true;
        send({ kind: 'reply', id: m.id });
      } else if (m.cmd === 'usage') {
        send({ kind: 'reply', id: m.id, ...usage() });
      } else if (m.cmd === 'digest') {
        const items = (await listAll(cp.store, 'MeshTimeout')).filter(fromGlobal);
        send({ kind: 'reply', id: m.id, digest: digestOf(items), count: items.length });
      }
    })().catch((err: Error) => send({ kind: 'failed', error: err.stack ?? err.message }));
  });
  process.on('disconnect', () => process.exit(0));
  send({ kind: 'ready', pid: process.pid, url: cp.url });
  await checkSynced();
} catch (err) {
  send({ kind: 'failed', error: (err as Error).stack ?? String(err) });
  process.exit(1);
}
