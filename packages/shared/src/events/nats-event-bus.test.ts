import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { TcpProxy } from '../../../../test/support/tcp-proxy.js';
import type { ResourceChangedEvent } from './event-bus.js';
import { InProcessEventBus } from './in-process-event-bus.js';
import { NatsEventBus, type NatsEventBusOptions } from './nats-event-bus.js';
import { openEventBus } from './open-event-bus.js';

const NATS_URL = process.env.MESHFED_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const NATS_PORT = Number(new URL(NATS_URL).port || 4222);

/** A subject prefix of this test's own, so suites run in parallel and never hear each other. */
const prefix = () => `meshfed-test.${randomBytes(6).toString('hex')}`;
const id = () => randomBytes(4).toString('hex');

function ev(name: string, at = Date.now()): ResourceChangedEvent {
  return { op: 'create', type: 'Mesh', name, version: '1', labels: { 'team': 'a' }, at };
}

async function waitFor(what: string, pred: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Everything a subscriber was handed, one entry per call. */
function recorder(bus: { subscribe(l: (e: readonly ResourceChangedEvent[]) => void): () => void }) {
  const batches: ResourceChangedEvent[][] = [];
  bus.subscribe((e) => batches.push([...e]));
  return { batches, names: () => batches.map((b) => b.map((e) => e.name).join(',')) };
}

function logCapture() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

const open: { close(): Promise<unknown> }[] = [];
after(async () => {
  // Newest first, so a bus closes before the proxy it dials through.
  for (const c of open.reverse()) await c.close().catch(() => undefined);
});

async function bus(o: Partial<NatsEventBusOptions> = {}): Promise<NatsEventBus> {
  const b = await NatsEventBus.connect({ url: NATS_URL, instanceId: id(), ...o });
  open.push(b);
  return b;
}

async function rawConnection(): Promise<NatsConnection> {
  const nc = await connect({ servers: NATS_URL });
  open.push(nc);
  return nc;
}

describe('NatsEventBus', () => {
  test('two buses on one prefix see each other once, and never their own echo', async () => {
    const p = prefix();
    const a = await bus({ subjectPrefix: p });
    const b = await bus({ subjectPrefix: p });
    const ra = recorder(a);
    const rb = recorder(b);
    a.publish([ev('a1'), ev('a2')]);
    b.publish([ev('b1')]);
    await waitFor('both batches to cross', () => ra.batches.length === 2 && rb.batches.length === 2);
    // A sentinel from each side, after which any duplicate of the first batches would have arrived.
    a.publish([ev('a-end')]);
    b.publish([ev('b-end')]);
    await waitFor('sentinels', () => ra.batches.length === 4 && rb.batches.length === 4);
    assert.deepEqual(ra.names().sort(), ['a-end', 'a1,a2', 'b-end', 'b1']);
    assert.deepEqual(rb.names().sort(), ['a-end', 'a1,a2', 'b-end', 'b1']);
    assert.deepEqual(a.stats(), { published: 2, received: 2, dropped: 0, malformed: 0, connected: true });
    assert.deepEqual(b.stats(), { published: 2, received: 2, dropped: 0, malformed: 0, connected: true });
  });

  test('a message carrying this instance as origin is ignored', async () => {
    const p = prefix();
    const a = await bus({ subjectPrefix: p });
    const ra = recorder(a);
    const nc = await rawConnection();
    // One publisher, so the server delivers these in this order: the echo comes before the sentinel.
    nc.publish(`${p}.events`, JSON.stringify({ origin: a.instanceId, events: [ev('echo')] }));
    nc.publish(`${p}.events`, JSON.stringify({ origin: 'someone-else', events: [ev('other')] }));
    await waitFor('the other origin', () => ra.batches.length === 1);
    assert.deepEqual(ra.names(), ['other']);
  });

  test('different prefixes are isolated', async () => {
    const p1 = prefix();
    const p2 = prefix();
    const a = await bus({ subjectPrefix: p1 });
    const c = await bus({ subjectPrefix: p1 });
    const b = await bus({ subjectPrefix: p2 });
    const d = await bus({ subjectPrefix: p2 });
    const rb = recorder(b);
    const rc = recorder(c);
    a.publish([ev('for-p1')]);
    await a.flush(); // the server has routed it before D's sentinel is even sent
    d.publish([ev('for-p2')]);
    await waitFor('both prefixes', () => rc.batches.length === 1 && rb.batches.length === 1);
    assert.deepEqual(rc.names(), ['for-p1']);
    assert.deepEqual(rb.names(), ['for-p2']);
  });

  test('local delivery is synchronous, and one failing listener does not stop the others', async () => {
    const a = await bus({ subjectPrefix: prefix() });
    a.subscribe(() => {
      throw new Error('boom');
    });
    const r = recorder(a);
    a.publish([ev('x')]);
    assert.deepEqual(r.names(), ['x']);
    const unsubscribe = a.subscribe(() => assert.fail('unsubscribed listener called'));
    unsubscribe();
    a.publish([]);
    a.publish([ev('y')]);
    assert.deepEqual(r.names(), ['x', 'y']);
  });

  test('a 1,000-event batch arrives whole and in order', async () => {
    const p = prefix();
    const a = await bus({ subjectPrefix: p });
    const b = await bus({ subjectPrefix: p });
    const rb = recorder(b);
    const events = Array.from({ length: 1000 }, (_, i) => ev(`m-${i}`));
    a.publish(events);
    await waitFor('the batch', () => rb.batches.length === 1);
    assert.deepEqual(rb.batches[0], events);
  });

  test('a batch over the max payload is split on the wire and delivered as one batch', async () => {
    const p = prefix();
    const a = await bus({ subjectPrefix: p, maxMessageBytes: 16 * 1024 });
    const b = await bus({ subjectPrefix: p });
    const rb = recorder(b);
    const nc = await rawConnection();
    let messages = 0;
    let largest = 0;
    nc.subscribe(`${p}.events`, { callback: (_err, m) => { messages++; largest = Math.max(largest, m.data.length); } });
    await nc.flush();
    const events = Array.from({ length: 1000 }, (_, i) => ev(`split-${i}`));
    a.publish(events);
    a.publish([ev('after')]);
    await waitFor('both batches', () => rb.batches.length === 2);
    assert.deepEqual(rb.batches[0], events);
    assert.deepEqual(rb.names()[1], 'after');
    await waitFor('the raw subscriber', () => messages >= 2);
    assert.ok(messages > 2, `expected the big batch in several messages, saw ${messages}`);
    assert.ok(largest <= 16 * 1024, `a message of ${largest} bytes`);
    assert.equal(a.stats().published, 2);
    assert.equal(b.stats().received, 2);
  });

  test('the lag field survives the trip', async () => {
    const p = prefix();
    const a = await bus({ subjectPrefix: p });
    const { log, lines } = logCapture();
    const b = await bus({ subjectPrefix: p, log });
    const rb = recorder(b);
    const at = Date.now() - 1234;
    const sent: ResourceChangedEvent = { op: 'delete', type: 'MeshTrafficPermission', mesh: 'default', name: 'allow', version: '42', labels: {}, at };
    a.publish([sent]);
    await waitFor('the batch', () => rb.batches.length === 1);
    assert.deepEqual(rb.batches[0], [sent]);
    const line = lines.find((l) => l.msg === 'remote events');
    assert.ok(line, 'a debug line per remote batch');
    assert.equal(line.count, 1);
    assert.equal(line.origin, a.instanceId);
    assert.ok(typeof line.lagMs === 'number' && line.lagMs >= 1234, `lagMs ${String(line.lagMs)}`);
  });

  test('malformed messages are counted and ignored', async () => {
    const p = prefix();
    const { log, lines } = logCapture();
    const a = await bus({ subjectPrefix: p, log });
    const ra = recorder(a);
    const nc = await rawConnection();
    nc.publish(`${p}.events`, 'not json');
    nc.publish(`${p}.events`, JSON.stringify({ origin: 'x', events: [{ op: 'explode', name: 'n' }] }));
    nc.publish(`${p}.events`, JSON.stringify({ origin: 'x', events: [ev('a', 1)], part: { batch: 0, index: 1, count: 2 } }));
    nc.publish(`${p}.events`, JSON.stringify({ origin: 'x', events: [ev('ok')] }));
    await waitFor('the valid batch', () => ra.batches.length === 1);
    assert.deepEqual(ra.names(), ['ok']);
    assert.equal(a.stats().malformed, 3);
    assert.equal(lines.filter((l) => l.level === 40).length, 1, 'logged once, not per message');
  });

  test('unreachable at connect: one-line error naming the URL and cause', async () => {
    const started = Date.now();
    await assert.rejects(NatsEventBus.connect({ url: 'nats://127.0.0.1:1', instanceId: id() }), (err: Error) => {
      assert.equal(err.message, 'cannot connect to NATS at nats://127.0.0.1:1: CONNECTION_REFUSED');
      return true;
    });
    assert.ok(Date.now() - started < 6000);
    await assert.rejects(NatsEventBus.connect({ url: 'nats://u:secret@127.0.0.1:1', instanceId: id() }), (err: Error) => {
      assert.doesNotMatch(err.message, /secret/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    await assert.rejects(NatsEventBus.connect({ url: NATS_URL, subjectPrefix: 'bad prefix.>', instanceId: id() }), /invalid NATS subject prefix/);
  });

  test('publishing while NATS is down never throws, counts drops, logs once, and recovers', async () => {
    const p = prefix();
    const proxy = new TcpProxy(NATS_PORT);
    open.push({ close: () => proxy.stop() });
    const port = await proxy.start();
    const { log, lines } = logCapture();
    const a = await bus({ url: `nats://127.0.0.1:${port}`, subjectPrefix: p, log });
    const b = await bus({ subjectPrefix: p });
    const ra = recorder(a);
    const rb = recorder(b);
    await proxy.cut();
    await waitFor('the disconnect', () => !a.stats().connected);
    for (let i = 0; i < 5; i++) a.publish([ev(`lost-${i}`)]);
    assert.deepEqual(ra.names(), ['lost-0', 'lost-1', 'lost-2', 'lost-3', 'lost-4'], 'local subscribers still see every commit');
    assert.equal(a.stats().dropped, 5);
    assert.equal(a.stats().published, 0);
    const warned = lines.filter((l) => l.msg.startsWith('cannot publish events to NATS'));
    assert.equal(warned.length, 1, 'one warning per outage');
    await proxy.restore();
    await waitFor('the reconnect', () => a.stats().connected, 8000);
    a.publish([ev('back')]);
    await waitFor('the batch after the outage', () => rb.batches.length === 1);
    assert.deepEqual(rb.names(), ['back']);
    assert.ok(lines.some((l) => l.msg === 'publishing events to NATS again' && l.dropped === 5));
    assert.deepEqual(a.stats(), { published: 1, received: 0, dropped: 5, malformed: 0, connected: true });
  });

  test('publishing after close does not throw; close is idempotent', async () => {
    const a = await NatsEventBus.connect({ url: NATS_URL, subjectPrefix: prefix(), instanceId: id() });
    await a.close();
    await a.close();
    a.publish([ev('late')]);
    assert.equal(a.stats().connected, false);
  });

  test('batches the server has not confirmed are bounded', async () => {
    const a = await bus({ subjectPrefix: prefix(), maxPendingBatches: 2 });
    // Confirmation needs a round trip, so in one tick only two go out.
    for (let i = 0; i < 5; i++) a.publish([ev(`p-${i}`)]);
    assert.equal(a.stats().published, 2);
    assert.equal(a.stats().dropped, 3);
    await a.flush();
    await waitFor('the confirmation', () => {
      a.publish([ev('again')]);
      return a.stats().published === 3;
    });
  });
});

describe('openEventBus', () => {
  test('in-process without a URL, NATS with one', async () => {
    const local = await openEventBus({ instanceId: id() });
    assert.ok(local instanceof InProcessEventBus);
    await local.close();
    const nats = await openEventBus({ natsUrl: NATS_URL, subjectPrefix: prefix(), instanceId: id() });
    open.push(nats);
    assert.ok(nats instanceof NatsEventBus);
  });
});
