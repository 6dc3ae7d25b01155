import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase } from './support/postgres.js';
import { type RunningCp, startCp } from './support/processes.js';

import { TEST_NATS_URL as NATS_URL } from './support/nats.js';

/** The value of a counter on a CP's /metrics (0 until first incremented). */
async function counter(cp: RunningCp, name: string): Promise<number> {
  const text = await (await fetch(`${cp.url}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** Log lines of a CP with this message. */
function logged(cp: RunningCp, msg: string): Record<string, unknown>[] {
  return cp
    .logs()
    .split('\n')
    .filter((l) => l.includes(`"${msg}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('two global replicas on one Postgres, events over NATS', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: RunningCp;
  let b: RunningCp;

  before(async () => {
    db = await createTestDatabase();
    const args = [
      '--store', 'postgres', '--postgres-url', db.url,
      '--nats-url', NATS_URL, '--nats-subject-prefix', `meshfed-test.${randomBytes(6).toString('hex')}`,
      '--log-level', 'debug',
    ];
    a = await startCp('global', args);
    b = await startCp('global', args);
  });

  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await db?.drop();
  });

  test("a write on one replica reaches the other's store and, as an event, its bus", async () => {
    const received = 'meshfed_event_batches_received_total';
    const [aBefore, bBefore] = [await counter(a, received), await counter(b, received)];
    // Without default policies: their writes would be batches of their own (see the next test).
    const put = await fetch(`${a.url}/meshes/replicated`, {
      method: 'PUT', body: JSON.stringify({ type: 'Mesh', name: 'replicated', skipCreatingInitialPolicies: ['*'] }), headers: { 'content-type': 'application/json' },
    });
    assert.equal(put.status, 201, await put.text());
    const got = await fetch(`${b.url}/meshes/replicated`);
    assert.equal(got.status, 200);

    await within(2000, 'B counts the remote batch', async () => (await counter(b, received)) === bBefore + 1);
    await within(2000, 'B logs the remote batch', async () => logged(b, 'remote events').some((l) => l.count === 1));
    const line = logged(b, 'remote events').at(-1)!;
    assert.equal(typeof line.lagMs, 'number');

    // And back: a delete on B is an event on A. A never hears its own write.
    const del = await fetch(`${b.url}/meshes/replicated`, { method: 'DELETE' });
    assert.equal(del.status, 200, await del.text());
    await within(2000, 'A counts the remote batch', async () => (await counter(a, received)) === aBefore + 1);
    assert.equal(logged(a, 'remote events').length, 1);
    assert.equal(await counter(b, received), bBefore + 1);
    assert.equal(await counter(a, 'meshfed_event_batches_dropped_total'), 0);
  });

  test('a mesh created on one replica gets its default policies once, though both replicas react to it', async () => {
    const put = await fetch(`${a.url}/meshes/shared`, {
      method: 'PUT', body: JSON.stringify({ type: 'Mesh', name: 'shared' }), headers: { 'content-type': 'application/json' },
    });
    assert.equal(put.status, 201, await put.text());
    const names = async (cp: RunningCp) => {
      const out: string[] = [];
      for (const plural of ['meshtimeouts', 'meshcircuitbreakers', 'meshretries']) {
        const body = (await (await fetch(`${cp.url}/meshes/shared/${plural}`)).json()) as { items: { name: string }[] };
        out.push(...body.items.map((i) => i.name));
      }
      return out.sort();
    };
    const expected = ['mesh-circuit-breaker-all-shared', 'mesh-gateways-timeout-all-shared', 'mesh-retry-all-shared', 'mesh-timeout-all-shared'];
    await within(2000, 'the defaults on B', async () => (await names(b)).length === 4);
    assert.deepEqual(await names(b), expected);
    // B heard the Mesh over NATS and tried too: between them, each policy was created exactly once.
    await within(2000, 'both replicas done', async () => [a, b].every((cp) => logged(cp, 'mesh default policies').some((l) => l.mesh === 'shared')));
    const created = [a, b].flatMap((cp) => logged(cp, 'mesh default policies').filter((l) => l.mesh === 'shared').flatMap((l) => l.created as string[]));
    assert.deepEqual(created.sort(), expected);
  });
});
