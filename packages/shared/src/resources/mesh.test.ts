// Mesh: the mode of an mTLS backend (STRICT or PERMISSIVE, Kuma's CertificateAuthorityBackend mode).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ValidationError } from '../errors/api-error.js';
import { enabledMtlsBackend, MeshSpec, mtlsModeOf } from './mesh.js';
import { parseResource } from './validate.js';

function causes(body: unknown): string[] {
  try {
    parseResource(body);
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err.causes.map((c) => `${c.field}: ${c.message}`);
  }
  assert.fail('expected a ValidationError');
}

const mesh = (backends: unknown[], enabledBackend = 'ca-1') => ({ type: 'Mesh', name: 'default', mtls: { enabledBackend, backends } });

describe('Mesh mTLS backend mode', () => {
  test('takes STRICT and PERMISSIVE, and keeps the spec as written (no mode: STRICT)', () => {
    for (const mode of ['STRICT', 'PERMISSIVE'] as const) {
      const r = parseResource(mesh([{ name: 'ca-1', type: 'builtin', mode }]));
      assert.equal(enabledMtlsBackend(r.spec as MeshSpec)?.mode, mode);
      assert.equal(mtlsModeOf(r.spec as MeshSpec), mode);
    }
    const r = parseResource(mesh([{ name: 'ca-1', type: 'builtin' }]));
    assert.deepEqual((r.spec as MeshSpec).mtls?.backends, [{ name: 'ca-1', type: 'builtin' }], 'no default written into the stored spec');
    assert.equal(mtlsModeOf(r.spec as MeshSpec), 'STRICT');
  });

  test('the mode is the enabled backend\'s; none when mTLS is off', () => {
    const backends = [{ name: 'ca-1', type: 'builtin', mode: 'PERMISSIVE' }, { name: 'ca-2', type: 'builtin' }];
    assert.equal(mtlsModeOf(MeshSpec.parse({ mtls: mesh(backends, 'ca-1').mtls })), 'PERMISSIVE');
    assert.equal(mtlsModeOf(MeshSpec.parse({ mtls: mesh(backends, 'ca-2').mtls })), 'STRICT');
    assert.equal(mtlsModeOf(MeshSpec.parse({ mtls: { backends } })), undefined, 'backends but none enabled: mTLS is off');
    assert.equal(mtlsModeOf(MeshSpec.parse({})), undefined);
  });

  test('refuses any other mode, naming the field', () => {
    assert.deepEqual(causes(mesh([{ name: 'ca-1', type: 'builtin', mode: 'permissive' }])), ['mtls.backends[0].mode: must be STRICT or PERMISSIVE']);
    assert.deepEqual(causes(mesh([{ name: 'ca-1', type: 'builtin' }, { name: 'ca-2', type: 'builtin', mode: 'DISABLED' }])), ['mtls.backends[1].mode: must be STRICT or PERMISSIVE']);
    assert.deepEqual(causes(mesh([{ name: 'ca-1', type: 'builtin', mode: 1 }])), ['mtls.backends[0].mode: must be STRICT or PERMISSIVE']);
    // Mode is a backend's field, not mtls's.
    assert.deepEqual(causes({ type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-1', mode: 'PERMISSIVE', backends: [{ name: 'ca-1', type: 'builtin' }] } }), ['mtls.mode: unknown field "mode"']);
  });
});
