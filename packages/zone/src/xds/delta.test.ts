import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adsCodec, type AdsDeltaDiscoveryResponse, type DeltaObserver, ProviderSession, unpack, XDS_KINDS, XDS_TYPE_URL, type XdsKind } from '@meshfed/shared';
import { snapshotView, typeChanges, XDS_WIRE, type XdsDirection } from './delta.js';
import { baseResources, baseSnapshot, edsCluster } from './fixtures.test-support.js';
import { makeSnapshot, type XdsSnapshot } from './snapshot.js';

/** Per type, the names whose version differs (added, changed or removed). */
const changedKeys = (a: XdsSnapshot | undefined, b: XdsSnapshot | undefined) => new Map([...typeChanges(a, b)].map(([kind, c]) => [kind, c.keys]));

function setup(initial: XdsSnapshot) {
  let current: XdsSnapshot | undefined = initial;
  const events: string[] = [];
  const observer: DeltaObserver<XdsKind, XdsDirection> = {
    sent: (t, _d, i) => events.push(`sent ${t} ${i.resources}+${i.removals}`),
    acked: (t) => events.push(`acked ${t}`),
    nacked: (t, _d, i) => events.push(`nacked ${t} ${i.error}`),
    refusedToSend: (t) => events.push(`refused ${t}`),
  };
  const session = new ProviderSession<XdsKind, XdsDirection>({
    direction: 'cp-to-proxy', types: XDS_KINDS, view: snapshotView(() => current), wire: XDS_WIRE, observer, maxMessageBytes: 1024 * 1024,
  });
  const update = (next: XdsSnapshot | undefined) => {
    const prev = current;
    current = next;
    return [...changedKeys(prev, next)].flatMap(([k, keys]) => session.changed(k, keys));
  };
  return { session, update, events };
}

function decode(bytes: Buffer | undefined): AdsDeltaDiscoveryResponse {
  assert.ok(bytes);
  const d = adsCodec.decodeDeltaResponse(bytes);
  assert.ok(d.ok);
  return d.value;
}

test('delta xDS through ProviderSession: Envoy type URLs, the resources\' own Anys, changes and removals', () => {
  const { session, update, events } = setup(baseSnapshot(1));
  const sub = session.handleRequest({ type_url: XDS_TYPE_URL.cluster, response_nonce: '', initial_resource_versions: {} });
  assert.ok(sub.kind === 'ok');
  const r = decode(sub.out[0]?.bytes);
  assert.equal(r.type_url, XDS_TYPE_URL.cluster);
  assert.equal(r.resources?.[0]?.name, 'backend');
  assert.equal(r.resources?.[0]?.resource?.type_url, XDS_TYPE_URL.cluster);
  assert.equal(unpack(r.resources![0]!.resource!)['type'], 'EDS');
  assert.equal(r.resources?.[0]?.version, baseSnapshot(1).types.cluster.entries.get('backend')?.version);
  session.handleRequest({ type_url: XDS_TYPE_URL.cluster, response_nonce: r.nonce });

  const eds = session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, response_nonce: '' });
  assert.ok(eds.kind === 'ok');
  const e = decode(eds.out[0]?.bytes);
  session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, response_nonce: e.nonce });

  // Only the ClusterLoadAssignment changes: one response, one resource.
  const pushed = update(baseSnapshot(2));
  assert.deepEqual(pushed.map((o) => o.type), ['endpoint']);
  const p = decode(pushed[0]?.bytes);
  assert.deepEqual(p.resources?.map((x) => x.name), ['backend']);
  session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, response_nonce: p.nonce });

  // A second cluster appears, then the first goes away.
  const res = baseResources(2);
  const added = update(makeSnapshot({ ...res, cluster: { backend: edsCluster('backend'), extra: edsCluster('extra') } }));
  const a = decode(added[0]?.bytes);
  assert.deepEqual(a.resources?.map((x) => x.name), ['extra']);
  session.handleRequest({ type_url: XDS_TYPE_URL.cluster, response_nonce: a.nonce });
  const removed = update(makeSnapshot({ ...res, cluster: { extra: edsCluster('extra') } }));
  const d = decode(removed[0]?.bytes);
  assert.deepEqual(d.resources, []);
  assert.deepEqual(d.removed_resources, ['backend']);
  assert.ok(events.includes('acked cluster'));
});

test('delta xDS: an Envoy NACK refuses the whole response, and the same versions are not pushed again', () => {
  const { session, update, events } = setup(baseSnapshot(1));
  const sub = session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, response_nonce: '' });
  assert.ok(sub.kind === 'ok');
  const r = decode(sub.out[0]?.bytes);
  const nack = session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, response_nonce: r.nonce, error_detail: { code: 3, message: 'bad endpoints' } });
  assert.deepEqual(nack, { kind: 'ok', out: [] });
  assert.ok(events.includes('nacked endpoint bad endpoints'));
  assert.deepEqual(session.reconcile(), [], 'the refused version stays refused');
  assert.deepEqual(update(makeSnapshot({ ...baseResources(1), listener: {} })).filter((o) => o.type === 'endpoint'), []);
  const fixed = update(baseSnapshot(3));
  assert.equal(fixed.length, 1, 'new content is pushed');
  assert.equal(session.handleRequest({ type_url: 'type.googleapis.com/nope' }).kind, 'rejected');
});

test('delta xDS: forget drops what the proxy unsubscribed, also from a response in flight, so it is sent again when wanted', () => {
  const { session, events } = setup(baseSnapshot(1));
  const sub = session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, response_nonce: '' });
  assert.ok(sub.kind === 'ok');
  const r = decode(sub.out[0]?.bytes);
  // Unsubscribed while the response is in flight: its ACK must not count backend as held.
  session.forget('endpoint', ['backend']);
  const acked = session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, response_nonce: r.nonce });
  assert.deepEqual(acked, { kind: 'ok', out: [] });
  assert.ok(events.includes('acked endpoint'));
  const again = session.changed('endpoint', ['backend']);
  assert.deepEqual(decode(again[0]?.bytes).resources?.map((x) => x.name), ['backend']);
  session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, response_nonce: decode(again[0]?.bytes).nonce });
  assert.deepEqual(session.changed('endpoint', ['backend']), [], 'held again: nothing to send');
  session.forget('endpoint', ['backend']);
  assert.equal(session.reconcile().length, 1, 'forgotten: sent again, and no removal is ever sent for it');
});

test('changedKeys between shared type snapshots: the same names for every proxy making the same move, and the right ones for another', () => {
  const a = baseSnapshot(1);
  const b = baseSnapshot(2);
  const first = changedKeys(a, b);
  assert.ok(first.size > 0);
  assert.deepEqual(changedKeys(a, b), first, 'the second comparison of the same pair');
  assert.deepEqual(changedKeys(b, a), first, 'the reverse move changes the same names');
  assert.deepEqual(changedKeys(a, a), new Map());
  assert.deepEqual(changedKeys(a, baseSnapshot(3)), first, 'another move from the same snapshot is compared anew');
  assert.deepEqual(changedKeys(a, baseSnapshot(1)), new Map(), 'equal content, other objects');
  const empty = changedKeys(a, undefined);
  for (const kind of XDS_KINDS) assert.deepEqual([...(empty.get(kind) ?? [])].sort(), [...a.types[kind].entries.keys()].sort());
});
