import assert from 'node:assert/strict';
import { test } from 'node:test';
import { entryHash, StateHash } from './state-hash.js';

test('the state hash depends on the set, not the order, and undoes cleanly', () => {
  const a = new StateHash();
  const b = new StateHash();
  const pairs = Array.from({ length: 1000 }, (_, i) => [`default/r${i}`, `v${i % 7}`] as const);
  for (const [k, v] of pairs) a.add(k, v);
  for (const [k, v] of [...pairs].reverse()) b.add(k, v);
  assert.equal(a.toString(), b.toString());
  const before = a.toString();
  a.add('default/extra', 'v1');
  assert.notEqual(a.toString(), before);
  a.remove('default/extra', 'v1');
  assert.equal(a.toString(), before);
  const c = a.clone();
  c.remove('default/r1', 'v1');
  c.add('default/r1', 'v2');
  assert.notEqual(c.toString(), a.toString(), 'a changed version changes the state');
  assert.equal(new StateHash().toString(), '0000000000000');
});

test('adding and removing by a precomputed entry hash is adding and removing the pair', () => {
  const a = new StateHash();
  const b = new StateHash();
  for (let i = 0; i < 100; i++) {
    a.add(`r${i}`, `v${i}`);
    b.addHash(entryHash(`r${i}`, `v${i}`));
  }
  a.remove('r3', 'v3');
  b.removeHash(entryHash('r3', 'v3'));
  assert.equal(a.toString(), b.toString());
});

test('a state hash prints as its 52-bit sum in 13 hex digits', () => {
  const h = new StateHash();
  assert.equal(h.toString(), '0000000000000');
  let expected = 0n;
  for (let i = 0; i < 1000; i++) {
    h.add(`key-${i}`, `v${i}`);
    expected = (expected + BigInt(entryHash(`key-${i}`, `v${i}`))) % 2n ** 52n;
    assert.equal(h.toString(), expected.toString(16).padStart(13, '0'));
  }
});
