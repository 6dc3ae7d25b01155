import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sortBySpecificity } from './ordering.js';
import type { AnyPolicy } from './policy-kinds.js';

const p = (name: string, targetRef: Record<string, unknown>, labels: Record<string, string> = {}) =>
  ({ type: 'MeshTimeout', name, mesh: 'default', labels, spec: { targetRef, to: [] } }) as unknown as AnyPolicy;

describe('sortBySpecificity', () => {
  it('orders kinds Mesh < MeshSubset < MeshGateway < MeshService < MeshServiceSubset < MeshHTTPRoute', () => {
    // targetref.md: "Mesh > MeshSubset > MeshService > MeshServiceSubset (the more a targetRef is
    // focused the higher priority it has)"; MeshGateway and MeshHTTPRoute from api/common ref.go `order`.
    const sorted = sortBySpecificity([
      p('route', { kind: 'MeshHTTPRoute', name: 'r' }),
      p('mss', { kind: 'MeshServiceSubset', name: 'a', tags: { v: '1' } }),
      p('ms', { kind: 'MeshService', name: 'a' }),
      p('gw', { kind: 'MeshGateway', name: 'g' }),
      p('subset', { kind: 'MeshSubset', tags: { a: 'b' } }),
      p('mesh', { kind: 'Mesh' }),
    ]);
    assert.deepEqual(sorted.map((x) => x.name), ['mesh', 'subset', 'gw', 'ms', 'mss', 'route']);
  });

  it('breaks ties by origin (zone over global), then the lexicographically smaller display name wins', () => {
    // 2.10 targetref.md table: "Origin ... global (less priority), zone"; "Display Name ... Inverted
    // lexicographical order, i.e; zzzzz (less priority) aaaaa1 aaaaa aaa".
    const sorted = sortBySpecificity([
      p('aaa', { kind: 'Mesh' }, { 'kuma.io/origin': 'global' }),
      p('zzzzz', { kind: 'Mesh' }, { 'kuma.io/origin': 'global' }),
      p('aaaaa', { kind: 'Mesh' }, { 'kuma.io/origin': 'global' }),
      p('zone-z', { kind: 'Mesh' }, { 'kuma.io/origin': 'zone' }),
      p('plain', { kind: 'Mesh' }),
    ]);
    assert.deepEqual(sorted.map((x) => x.name), ['zzzzz', 'aaaaa', 'aaa', 'plain', 'zone-z']);
  });

  it('uses the display name, not the stored (hashed) name', () => {
    const sorted = sortBySpecificity([
      p('a.zone-1.123', { kind: 'Mesh' }, { 'kuma.io/display-name': 'z' }),
      p('b.zone-1.456', { kind: 'Mesh' }, { 'kuma.io/display-name': 'y' }),
    ]);
    assert.deepEqual(sorted.map((x) => x.name), ['a.zone-1.123', 'b.zone-1.456']);
  });

  it('ranks MeshGateway refs with more tags higher (dataplane.go ByTargetRef)', () => {
    const sorted = sortBySpecificity([p('a', { kind: 'MeshGateway', name: 'g', tags: { port: '80' } }), p('b', { kind: 'MeshGateway', name: 'g' })]);
    assert.deepEqual(sorted.map((x) => x.name), ['b', 'a']);
  });
});
