import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adsCodec, entryHash, pack, XDS_TYPE_URL } from '@meshfed/shared';
import { baseSnapshot, edsCluster, listener, loadAssignment, routeConfig } from './fixtures.test-support.js';
import { checkSnapshot, LayeredResources, makeSnapshot, sharedResources } from './snapshot.js';
import { SnapshotCache } from './snapshot-cache.js';

test('snapshot versions are content hashes: equal content, equal version; a change moves only its type', () => {
  const a = baseSnapshot(1);
  const b = baseSnapshot(1);
  const c = baseSnapshot(2);
  assert.equal(a.version, b.version);
  assert.equal(a.types.endpoint.entries.get('backend')?.version, b.types.endpoint.entries.get('backend')?.version);
  assert.notEqual(a.version, c.version);
  assert.notEqual(a.types.endpoint.version, c.types.endpoint.version);
  assert.equal(a.types.cluster.version, c.types.cluster.version);
  assert.equal(a.types.listener.version, c.types.listener.version);
  assert.equal(a.types.route.entries.size, 0);
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.types));
  assert.deepEqual(checkSnapshot(a), []);
});

test('the consistency check reports an EDS cluster without endpoints and a missing route configuration', () => {
  const s = makeSnapshot({
    listener: { http: listener('http', 8080, 'route-a'), ok: listener('ok', 8081, 'route-b') },
    cluster: { backend: edsCluster('backend'), other: edsCluster('other') },
    endpoint: { backend: loadAssignment('backend', 8080) },
    route: { 'route-b': routeConfig('route-b', 'backend') },
  });
  const problems = checkSnapshot(s);
  assert.deepEqual(problems.map((p) => [p.kind, p.name]).sort(), [['missing-endpoints', 'other'], ['missing-route', 'http']]);
  assert.match(problems.find((p) => p.kind === 'missing-route')?.detail ?? '', /route-a/);
});

test('the consistency check reports resources of the wrong type or under another name', () => {
  const s = makeSnapshot({ cluster: { a: listener('a', 1), b: edsCluster('c') }, endpoint: { c: pack(XDS_TYPE_URL.endpoint, { cluster_name: 'c' }) } });
  const kinds = checkSnapshot(s).map((p) => `${p.kind}:${p.name}`).sort();
  assert.deepEqual(kinds, ['missing-endpoints:b', 'name-mismatch:b', 'wrong-type:a']);
});

test('SnapshotCache publishes only changed versions, watches per proxy, and clears', () => {
  const cache = new SnapshotCache();
  const seen: string[] = [];
  const cancel = cache.watch('default.web', (s) => seen.push(s?.version ?? 'cleared'));
  cache.watch('default.other', () => seen.push('other'));
  assert.equal(cache.set('default.web', baseSnapshot(1)), true);
  assert.equal(cache.set('default.web', baseSnapshot(1)), false, 'same content, same version: no publication');
  assert.equal(cache.set('default.web', baseSnapshot(2)), true);
  assert.deepEqual(seen, [baseSnapshot(1).version, baseSnapshot(2).version]);
  assert.equal(cache.get('default.web')?.version, baseSnapshot(2).version);
  assert.equal(cache.clear('default.web'), true);
  assert.equal(cache.get('default.web'), undefined);
  assert.equal(cache.size, 0);
  assert.equal(seen.at(-1), 'cleared');
  cancel();
  cache.set('default.web', baseSnapshot(3));
  assert.equal(seen.length, 3, 'a cancelled watch hears nothing');
  assert.equal(cache.watcherCount('default.web'), 0);
});

test('a type given as shared plus own resources is the snapshot of their union, an own one replacing a shared one of its name', () => {
  const shared = sharedResources(new Map([['b', listener('b', 2)], ['d', listener('d', 4)], ['f', listener('f', 6)]]));
  const own = new Map([['a', listener('a', 1)], ['d', listener('d', 40)], ['e', listener('e', 5)], ['z', listener('z', 26)]]);
  const layered = makeSnapshot({ listener: new LayeredResources(shared, own) });
  const plain = makeSnapshot({ listener: new Map([...shared, ...own]) });
  assert.equal(layered.version, plain.version);
  assert.equal(layered.types.listener.version, plain.types.listener.version);
  assert.deepEqual([...layered.types.listener.entries.keys()], ['a', 'b', 'd', 'e', 'f', 'z']);
  assert.deepEqual([...layered.types.listener.entries].map(([k, e]) => [k, e.version]), [...plain.types.listener.entries].map(([k, e]) => [k, e.version]));
  assert.deepEqual(Buffer.from(layered.types.listener.entries.get('d')!.bytes), Buffer.from(own.get('d')!.value));
  assert.equal(makeSnapshot({ listener: new LayeredResources(shared, new Map()) }).types.listener, makeSnapshot({ listener: shared }).types.listener, 'nothing own: the shared type itself');
});

test("an entry's encoded Resource is what protobufjs writes for it, and its bytes are the Any's value", () => {
  const s = makeSnapshot({ cluster: { backend: edsCluster('backend'), 'é名': edsCluster('é名') }, endpoint: { backend: loadAssignment('backend', 8080) } });
  for (const kind of ['cluster', 'endpoint'] as const) {
    for (const e of s.types[kind].entries.values()) {
      const ref = adsCodec.encodeDeltaResponse({ resources: [{ name: e.key, version: e.version, resource: e.resource }] });
      // A response of that one resource: tag 0x12, its length, then the Resource message.
      assert.deepEqual(Buffer.from(e.wire), ref.subarray(ref.length - e.wire.length));
      assert.deepEqual(Buffer.from(e.bytes), Buffer.from(e.resource.value));
      assert.equal(e.hash, entryHash(e.key, e.version), 'the hash the delta session reads instead of computing it');
    }
  }
});
