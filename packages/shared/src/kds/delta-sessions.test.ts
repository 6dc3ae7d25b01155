import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ResourceKind } from '../resources/registry.js';
import type { StoredResource } from '../resources/resource.js';
import { ConsumerSession, type Rejected } from './consumer-session.js';
import { type Envelope, envelopeOf, kdsVersion } from './envelope.js';
import { NOOP_OBSERVER, type KdsObserver } from './observer.js';
import { codec } from './proto.js';
import { type Outbound, ProviderSession, type ProviderView } from './provider-session.js';

const TYPE: ResourceKind = 'MeshTimeout';

function resource(name: string, rev = 1, pad = 0): StoredResource {
  return {
    type: TYPE, name, mesh: 'default', labels: { rev: String(rev) },
    spec: { spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout: `${rev}s` } }], pad: 'x'.repeat(pad) } },
    version: String(rev), creationTime: new Date(0).toISOString(), modificationTime: new Date().toISOString(),
  };
}

class View implements ProviderView {
  readonly items = new Map<string, Envelope>();
  put(r: StoredResource) {
    const e = envelopeOf(r);
    this.items.set(e.key, e);
    return e.key;
  }
  del(key: string) {
    this.items.delete(key);
    return key;
  }
  get(_t: ResourceKind, key: string) {
    return this.items.get(key);
  }
  keys() {
    return this.items.keys();
  }
}

/** A receiver whose "store" is a map, refusing names listed in `refuse`. */
class Receiver {
  readonly store = new Map<string, string>();
  readonly session = new ConsumerSession([TYPE]);
  refuse = new Set<string>();
  applied = 0;
  frames = 0;
  handle(out: Outbound): Buffer {
    this.frames++;
    const o = this.session.open(out.bytes);
    assert.equal(o.kind, 'plan');
    if (o.kind !== 'plan') throw new Error('unreachable');
    const rejected: Rejected[] = [...o.plan.unreadable];
    for (const u of o.plan.upserts) {
      if (this.refuse.has(u.key)) rejected.push({ name: u.key, version: u.version, error: 'refused by test' });
      else {
        this.store.set(u.key, u.version);
        this.applied++;
      }
    }
    for (const k of o.plan.removals) this.store.delete(k);
    return this.session.answer(o.plan.type, o.plan.nonce, rejected);
  }
  subscribe(): Buffer {
    return this.session.subscribe(TYPE, this.store);
  }
}

function recorder() {
  const calls: { kind: string; info: unknown }[] = [];
  const o: KdsObserver = {
    ...NOOP_OBSERVER,
    sent: (_t, _d, info) => calls.push({ kind: 'sent', info }),
    acked: (_t, _d, info) => calls.push({ kind: 'acked', info }),
    nacked: (_t, _d, info) => calls.push({ kind: 'nacked', info }),
    refusedToSend: (_t, _d, info) => calls.push({ kind: 'refused', info }),
  };
  return { o, calls };
}

/** Runs request → responses → answers until quiet; returns the number of responses exchanged. */
function converse(p: ProviderSession, r: Receiver, first: Buffer): number {
  let queue = [first];
  let responses = 0;
  for (let guard = 0; queue.length > 0 && guard < 1000; guard++) {
    const req = codec.decodeRequest(queue.shift()!);
    assert.ok(req.ok);
    if (!req.ok) break;
    const outcome = p.handleRequest(req.value);
    assert.equal(outcome.kind, 'ok', JSON.stringify(outcome));
    if (outcome.kind !== 'ok') break;
    for (const out of outcome.out) {
      responses++;
      queue = [...queue, r.handle(out)];
    }
  }
  return responses;
}

function provider(view: View, observer: KdsObserver = NOOP_OBSERVER, maxMessageBytes = 4 * 1024 * 1024) {
  return new ProviderSession({ direction: 'global-to-zone', types: [TYPE], view, observer, maxMessageBytes });
}

describe('delta sessions', () => {
  test('initial sync sends everything once; a resync with nothing changed sends nothing', () => {
    const view = new View();
    for (let i = 0; i < 50; i++) view.put(resource(`p${i}`));
    const r = new Receiver();
    converse(provider(view), r, r.subscribe());
    assert.equal(r.store.size, 50);
    assert.deepEqual([...r.store].sort(), [...view.items.values()].map((e) => [e.key, e.version] as [string, string]).sort());
    // Reconnect: a new provider (new stream), the receiver reports what it has.
    const again = new Receiver();
    for (const [k, v] of r.store) again.store.set(k, v);
    assert.equal(converse(provider(view), again, again.subscribe()), 0, 'nothing travels when nothing changed');
  });

  test('a resync after changes sends only what changed, and removals', () => {
    const view = new View();
    for (let i = 0; i < 100; i++) view.put(resource(`p${i}`));
    const r = new Receiver();
    converse(provider(view), r, r.subscribe());
    view.put(resource('p1', 2));
    view.put(resource('new', 1));
    view.del('default/p2');
    const before = r.applied;
    converse(provider(view), r, r.subscribe());
    assert.equal(r.applied - before, 2);
    assert.equal(r.store.has('default/p2'), false);
    assert.equal(r.store.get('default/p1'), kdsVersion(resource('p1', 2)));
  });

  test('changes while a response awaits its ACK are coalesced into the next response', () => {
    const view = new View();
    view.put(resource('a'));
    const p = provider(view);
    const r = new Receiver();
    const sub = codec.decodeRequest(r.subscribe());
    assert.ok(sub.ok);
    if (!sub.ok) return;
    const first = p.handleRequest(sub.value);
    assert.equal(first.kind, 'ok');
    if (first.kind !== 'ok') return;
    assert.equal(first.out.length, 1);
    // Three changes arrive before the ACK: nothing is sent now.
    for (const n of ['b', 'c', 'd']) assert.deepEqual(p.changed(TYPE, [view.put(resource(n))]), []);
    const ack = codec.decodeRequest(r.handle(first.out[0]!));
    assert.ok(ack.ok);
    if (!ack.ok) return;
    const next = p.handleRequest(ack.value);
    assert.equal(next.kind, 'ok');
    if (next.kind !== 'ok') return;
    assert.equal(next.out.length, 1, 'one response carries all three');
    r.handle(next.out[0]!);
    assert.deepEqual([...r.store.keys()].sort(), ['default/a', 'default/b', 'default/c', 'default/d']);
  });

  test('identical content is never resent, even when told it changed', () => {
    const view = new View();
    const key = view.put(resource('a'));
    const p = provider(view);
    const r = new Receiver();
    converse(p, r, r.subscribe());
    view.put({ ...resource('a'), version: '99', modificationTime: new Date().toISOString() });
    assert.deepEqual(p.changed(TYPE, [key]), []);
  });

  test('a NACK naming one resource: the rest is applied, the refused version is not resent', () => {
    const view = new View();
    for (const n of ['a', 'b', 'c']) view.put(resource(n));
    const { o, calls } = recorder();
    const p = provider(view, o);
    const r = new Receiver();
    r.refuse.add('default/b');
    converse(p, r, r.subscribe());
    assert.deepEqual([...r.store.keys()].sort(), ['default/a', 'default/c']);
    const nack = calls.find((c) => c.kind === 'nacked')!.info as { rejected: Rejected[]; error: string };
    assert.deepEqual(nack.rejected.map((x) => x.name), ['default/b']);
    assert.match(nack.error, /refused by test/);
    assert.deepEqual(p.reconcile(), [], 'the refused version is not sent again');
    // New content for b is sent again, and accepted once the receiver takes it.
    r.refuse.clear();
    const out = p.changed(TYPE, [view.put(resource('b', 2))]);
    assert.equal(out.length, 1);
    converse(p, r, r.handle(out[0]!));
    assert.equal(r.store.get('default/b'), kdsVersion(resource('b', 2)));
  });

  test('responses are split under the size limit, and a resource that can never fit is refused alone', () => {
    const view = new View();
    for (let i = 0; i < 20; i++) view.put(resource(`p${i}`, 1, 3000));
    view.put(resource('huge', 1, 50_000));
    const { o, calls } = recorder();
    const p = provider(view, o, 16 * 1024);
    const r = new Receiver();
    const responses = converse(p, r, r.subscribe());
    assert.ok(responses >= 4, `expected several responses, got ${responses}`);
    for (const c of calls.filter((x) => x.kind === 'sent')) assert.ok((c.info as { bytes: number }).bytes <= 16 * 1024);
    assert.equal(r.store.size, 20);
    assert.equal(r.store.has('default/huge'), false);
    const refused = calls.filter((c) => c.kind === 'refused');
    assert.equal(refused.length, 1);
    assert.match((refused[0]!.info as { error: string }).error, /cannot fit in a KDS message of at most 16384 bytes/);
    assert.deepEqual(p.reconcile(), [], 'not retried at the same version');
  });

  test('unknown types and stale nonces are reported, not fatal', () => {
    const p = provider(new View());
    const unknown = p.handleRequest({ type_url: 'meshfed.io/kds/Nope' });
    assert.equal(unknown.kind, 'rejected');
    const stale = p.handleRequest({ type_url: 'meshfed.io/kds/MeshTimeout', response_nonce: 'deadbeef' });
    assert.deepEqual(stale.kind === 'rejected' ? stale.reason : stale.kind, 'stale-nonce');
  });

  test('a receiver refuses garbage and tampered resources without failing the rest', () => {
    const c = new ConsumerSession([TYPE]);
    const garbage = c.open(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    assert.equal(garbage.kind, 'rejected');
    const good = envelopeOf(resource('ok'));
    const bad = envelopeOf(resource('bad'));
    const frame = codec.encodeResponse({
      type_url: 'meshfed.io/kds/MeshTimeout', nonce: 'n',
      resources: [
        { name: good.key, version: good.version, resource: { type_url: 'type.googleapis.com/meshfed.kds.v1.KdsResource', value: good.bytes } },
        { name: bad.key, version: 'forged', resource: { type_url: 'type.googleapis.com/meshfed.kds.v1.KdsResource', value: bad.bytes } },
      ],
    });
    const o = c.open(frame);
    assert.equal(o.kind, 'plan');
    if (o.kind !== 'plan') return;
    assert.equal(o.plan.upserts.length, 1);
    assert.equal(o.plan.unreadable.length, 1);
    assert.match(o.plan.unreadable[0]!.error, /does not match the content/);
  });
});
