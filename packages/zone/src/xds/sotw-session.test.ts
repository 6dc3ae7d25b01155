import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adsCodec, type AdsDiscoveryResponse, unpack, XDS_TYPE_URL } from '@meshfed/shared';
import { baseSnapshot, loadAssignment } from './fixtures.test-support.js';
import { makeSnapshot, type XdsSnapshot } from './snapshot.js';
import type { AdsOutbound } from './ads-protocol.js';
import { SotwSession } from './sotw-session.js';

function decode(o: AdsOutbound | undefined): AdsDiscoveryResponse {
  assert.ok(o, 'a response');
  const d = adsCodec.decodeResponse(o.bytes);
  assert.ok(d.ok);
  return d.value;
}

function setup(initial: XdsSnapshot | undefined) {
  let current = initial;
  const session = new SotwSession({ current: () => current });
  return { session, set: (s: XdsSnapshot | undefined) => (current = s) };
}

test('SotW: the first request gets every resource; an ACK records and sends nothing; a change pushes the whole type', () => {
  const { session, set } = setup(baseSnapshot(1));
  const first = session.handleRequest({ type_url: XDS_TYPE_URL.cluster, node: { id: 'default.web' } });
  assert.equal(first.kind, 'ok');
  if (first.kind !== 'ok') return;
  const r = decode(first.out[0]);
  assert.equal(r.type_url, XDS_TYPE_URL.cluster);
  assert.equal(r.resources?.length, 1);
  assert.equal(unpack(r.resources![0]!)['name'], 'backend');

  const ack = session.handleRequest({ type_url: XDS_TYPE_URL.cluster, version_info: r.version_info, response_nonce: r.nonce });
  assert.deepEqual(ack, { kind: 'ok', out: [], answer: { kind: 'ack', type: 'cluster', nonce: r.nonce, version: r.version_info } });
  assert.equal(session.status().get('cluster')?.acked, r.version_info);

  const eds = session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, resource_names: ['backend'] });
  assert.ok(eds.kind === 'ok' && eds.out.length === 1);
  const e1 = decode(eds.out[0]);
  assert.equal(session.changed().length, 0, 'nothing changed, nothing sent');
  set(baseSnapshot(2));
  const pushed = session.changed();
  assert.deepEqual(pushed.map((o) => o.type), ['endpoint'], 'only the type whose content changed');
  const e2 = decode(pushed[0]);
  assert.notEqual(e2.version_info, e1.version_info);
  assert.equal((unpack(e2.resources![0]!)['endpoints'] as unknown[]).length, 1);
});

test('SotW: a NACK is recorded and the refused version is not pushed again; new content is', () => {
  const { session, set } = setup(baseSnapshot(1));
  const first = session.handleRequest({ type_url: XDS_TYPE_URL.listener });
  assert.ok(first.kind === 'ok');
  const r = decode(first.out[0]);
  const nack = session.handleRequest({
    type_url: XDS_TYPE_URL.listener, version_info: '', response_nonce: r.nonce, error_detail: { code: 3, message: 'bad listener' },
  });
  assert.deepEqual(nack, { kind: 'ok', out: [], answer: { kind: 'nack', type: 'listener', nonce: r.nonce, version: r.version_info, error: 'bad listener' } });
  assert.equal(session.status().get('listener')?.refused, r.version_info);
  set(baseSnapshot(2)); // a change elsewhere: listeners unchanged
  assert.deepEqual(session.changed(), []);
  const again = session.handleRequest({ type_url: XDS_TYPE_URL.listener, version_info: '', response_nonce: '' });
  assert.ok(again.kind === 'ok' && again.out.length === 0, 'a re-request does not bring the refused version back');
  set(makeSnapshot({ listener: {} }));
  assert.equal(session.changed().length, 1, 'new listener content is pushed');
});

test('SotW: EDS honours resource_names, a stale nonce is ignored, unknown types are rejected, no snapshot sends nothing', () => {
  const { session, set } = setup(undefined);
  const eds = session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, resource_names: ['a'] });
  assert.deepEqual(eds, { kind: 'ok', out: [] });
  set(makeSnapshot({ endpoint: { a: loadAssignment('a', 1), b: loadAssignment('b', 2) } }));
  const pushed = session.changed();
  const r = decode(pushed[0]);
  assert.deepEqual(r.resources?.map((x) => unpack(x)['cluster_name']), ['a']);
  const more = session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, resource_names: ['a', 'b'], version_info: r.version_info, response_nonce: r.nonce });
  assert.ok(more.kind === 'ok');
  assert.equal(more.answer?.kind, 'ack');
  assert.deepEqual(decode(more.out[0]).resources?.map((x) => unpack(x)['cluster_name']), ['a', 'b']);
  assert.equal(session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, response_nonce: r.nonce }).kind, 'stale');
  assert.equal(session.handleRequest({ type_url: 'type.googleapis.com/nope' }).kind, 'rejected');
});

test('SotW: oldestUnacked follows the oldest unanswered response; an answer to a superseded one moves it to the latest', () => {
  let now = 1000;
  let current: XdsSnapshot | undefined = baseSnapshot(1);
  const session = new SotwSession({ current: () => current, now: () => now });
  assert.equal(session.oldestUnacked(), undefined);
  const first = session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, resource_names: ['backend'] });
  assert.ok(first.kind === 'ok');
  const r1 = decode(first.out[0]);
  assert.deepEqual(session.oldestUnacked(), { type: 'endpoint', sentAt: 1000 });
  now = 2000;
  current = baseSnapshot(2);
  const r2 = decode(session.changed()[0]);
  assert.deepEqual(session.oldestUnacked(), { type: 'endpoint', sentAt: 1000 }, 'still the first');
  assert.equal(session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, resource_names: ['backend'], response_nonce: 'bogus' }).kind, 'stale');
  assert.deepEqual(session.oldestUnacked(), { type: 'endpoint', sentAt: 1000 }, 'a nonce never sent proves nothing');
  session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, resource_names: ['backend'], version_info: r1.version_info, response_nonce: r1.nonce });
  assert.deepEqual(session.oldestUnacked(), { type: 'endpoint', sentAt: 2000 }, 'the superseded one was answered');
  session.handleRequest({ type_url: XDS_TYPE_URL.endpoint, resource_names: ['backend'], version_info: '', response_nonce: r2.nonce, error_detail: { message: 'no' } });
  assert.equal(session.oldestUnacked(), undefined, 'a NACK is an answer too');
});

test('SotW: a proxy whose configuration is withdrawn (its Dataplane deleted) is sent empty types; before its first it waits', () => {
  const { session, set } = setup(undefined);
  const waiting = session.handleRequest({ type_url: XDS_TYPE_URL.cluster, node: { id: 'default.web' } });
  assert.ok(waiting.kind === 'ok' && waiting.out.length === 0, 'nothing before the first configuration');
  set(baseSnapshot(1));
  const first = session.changed();
  assert.equal(decode(first[0]).resources?.length, 1);
  session.handleRequest({ type_url: XDS_TYPE_URL.cluster, version_info: decode(first[0]).version_info, response_nonce: decode(first[0]).nonce });
  set(undefined);
  const withdrawn = session.changed();
  assert.deepEqual(withdrawn.map((o) => o.type), ['cluster']);
  assert.deepEqual(decode(withdrawn[0]).resources ?? [], [], 'the empty set removes every cluster');
});

test('SotW: clusters asked for by name (gRPC) get those only; an empty list then unsubscribes; `*` is everything', () => {
  const { session } = setup(baseSnapshot(1));
  const named = session.handleRequest({ type_url: XDS_TYPE_URL.cluster, resource_names: ['missing'] });
  assert.ok(named.kind === 'ok');
  assert.equal(decode(named.out[0]).resources?.length ?? 0, 0, 'a name nothing has: an empty answer, not everything');
  assert.deepEqual(session.status().get('cluster')?.names, ['missing']);
  const r = decode(named.out[0]);
  const asked = session.handleRequest({ type_url: XDS_TYPE_URL.cluster, resource_names: ['backend'], version_info: r.version_info, response_nonce: r.nonce });
  assert.ok(asked.kind === 'ok');
  const r2 = decode(asked.out[0]);
  assert.deepEqual(r2.resources?.map((x) => unpack(x)['name']), ['backend']);
  const none = session.handleRequest({ type_url: XDS_TYPE_URL.cluster, resource_names: [], version_info: r2.version_info, response_nonce: r2.nonce });
  assert.ok(none.kind === 'ok');
  const r3 = decode(none.out[0]);
  assert.equal(r3.resources?.length ?? 0, 0, 'unsubscribed from all');
  const all = session.handleRequest({ type_url: XDS_TYPE_URL.cluster, resource_names: ['*'], version_info: r3.version_info, response_nonce: r3.nonce });
  assert.ok(all.kind === 'ok');
  assert.equal(decode(all.out[0]).resources?.length, 1);
  assert.equal(session.status().get('cluster')?.names, '*');
});
