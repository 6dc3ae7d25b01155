import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProviderView, XdsKind } from '@meshfed/shared';
import { DeltaSubscriptions } from './ads-delta-subscriptions.js';

const ALL = ['a', 'b', 'c'];
const item = (key: string) => ({ key, version: 'v', bytes: new Uint8Array() });
const inner: ProviderView<XdsKind> = { get: (_t, k) => (ALL.includes(k) ? item(k) : undefined), keys: () => ALL };

test('DeltaSubscriptions: legacy and explicit wildcard, names, and what each request drops and wants', () => {
  const subs = new DeltaSubscriptions();
  const keys = () => ALL;
  const view = subs.view(inner);
  assert.deepEqual([...view.keys('cluster')], [], 'nothing before the first request');

  assert.deepEqual(subs.apply('cluster', [], [], keys), { dropped: [], wanted: [] });
  assert.deepEqual([...view.keys('cluster')], ALL, 'a first request naming nothing is a wildcard');
  assert.deepEqual(subs.apply('listener', ['*'], [], keys), { dropped: [], wanted: [] });
  assert.ok(subs.includes('listener', 'c'));

  assert.deepEqual(subs.apply('endpoint', ['a'], [], keys), { dropped: [], wanted: ['a'] });
  assert.deepEqual([...view.keys('endpoint')], ['a']);
  assert.equal(view.get('endpoint', 'b'), undefined);
  assert.deepEqual(subs.apply('endpoint', ['b', 'a'], [], keys), { dropped: [], wanted: ['b'] }, 'only new names are wanted');
  assert.deepEqual(subs.apply('endpoint', [], ['a'], keys), { dropped: ['a'], wanted: [] });
  assert.equal(view.get('endpoint', 'a'), undefined);

  assert.deepEqual(subs.apply('endpoint', ['*'], [], keys), { dropped: [], wanted: 'all' });
  assert.deepEqual(subs.apply('endpoint', [], ['b'], keys), { dropped: ['b'], wanted: ['b'] }, 'the wildcard still covers b: the proxy wants it again');
  assert.deepEqual(subs.apply('endpoint', ['c'], ['*'], keys), { dropped: ['a', 'b'], wanted: ['c'] }, 'leaving the wildcard drops all but the names');
  assert.deepEqual(subs.status().get('endpoint'), { wildcard: false, names: ['c'] });
});
