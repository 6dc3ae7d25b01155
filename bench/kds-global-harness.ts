// One meshfed global CP (memory store, plaintext KDS, loopback, free ports) in its own process, for
// `npm run bench -- kds`. Commands over IPC: load N MeshTimeouts, report RSS, digest its MeshTimeouts.
import { listAll, parseFlags, parseResource, type WriteOp } from '@meshfed/shared';
import { GlobalFlags, startGlobal } from '@meshfed/global';
import { digestOf } from './kds-digest.js';
import { isFromBench, MESH, meshTimeout, send, usage } from './kds-proc.js';

const flags = parseFlags(GlobalFlags, [
  '--kds-insecure', '--api-address', '127.0.0.1', '--api-port', '0', '--api-tls-port', '0', '--kds-address', '127.0.0.1', '--kds-port', '0', '--log-level', 'warn',
], {});

try {
  const cp = await startGlobal(flags);
  process.on('message', (raw) => {
    if (!isFromBench(raw)) return;
    const m = raw;
    void (async () => {
      if (m.cmd === 'load') {
        // The existing resources, validated as the REST API validates them, committed 500 at a time.
        const n = m.n ?? 0;
        for (let i = 0; i < n; i += 500) {
          const ops: WriteOp[] = [];
          for (let j = i; j < Math.min(n, i + 500); j++) ops.push({ op: 'put', resource: parseResource(meshTimeout(`bench-${j}`)) });
          await cp.store.commit(ops);
        }
        send({ kind: 'reply', id: m.id, count: n });
      } else if (m.cmd === 'usage') {
        send({ kind: 'reply', id: m.id, ...usage() });
      } else if (m.cmd === 'digest') {
        const items = (await listAll(cp.store, 'MeshTimeout')).filter((r) => r.mesh === MESH);
        send({ kind: 'reply', id: m.id, digest: digestOf(items), count: items.length });
      }
    })().catch((err: Error) => send({ kind: 'failed', error: err.stack ?? err.message }));
  });
  process.on('disconnect', () => process.exit(0));
  send({ kind: 'ready', pid: process.pid, url: cp.url, kdsPort: cp.kdsPort });
} catch (err) {
  send({ kind: 'failed', error: (err as Error).stack ?? String(err) });
  process.exit(1);
}
