import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiResponseError, InputError, renderError, TimeoutError, UnreachableError, UsageError, YamlSyntaxError } from './errors.js';

describe('renderError', () => {
  it('renders a validation error with one line per cause', () => {
    const e = new ApiResponseError(
      400,
      'Invalid resource',
      'Dataplane is invalid: networking.inbound[0].port: must be a port in 1-65535 (and 1 more)',
      [
        { field: 'networking.inbound[0].port', message: 'must be a port in 1-65535' },
        { field: '', message: 'at least one of from, to must be defined' },
      ],
      'Dataplane "dp-1" in mesh "default"',
    );
    assert.deepEqual(renderError(e), {
      lines: [
        'Error: Dataplane "dp-1" in mesh "default" is invalid (400)',
        '  networking.inbound[0].port: must be a port in 1-65535',
        '  at least one of from, to must be defined',
      ],
      exitCode: 1,
    });
  });

  it('puts where the problem is in front of the headline', () => {
    const e = new ApiResponseError(400, 'Invalid resource', 'x', [{ field: 'name', message: 'is required' }], 'Mesh "m"');
    assert.equal(renderError(e, 'f.yaml document 2 (line 9)').lines[0], 'Error: f.yaml document 2 (line 9): Mesh "m" is invalid (400)');
  });

  it('renders not found without repeating the details', () => {
    const e = new ApiResponseError(404, 'Not found', 'Dataplane "x" not found', [], 'Dataplane "x" in mesh "default"');
    assert.deepEqual(renderError(e).lines, ['Error: Dataplane "x" in mesh "default" not found (404)']);
  });

  it('renders other API errors with their title and details', () => {
    const conflict = new ApiResponseError(409, 'Version conflict', 'the resource changed since version 3', [], 'Mesh "m"');
    assert.deepEqual(renderError(conflict).lines, ['Error: Mesh "m": version conflict (409)', '  the resource changed since version 3']);
    const federated = new ApiResponseError(400, 'Owned by global', 'apply Mesh on the global control plane', [], 'Mesh "m"');
    assert.deepEqual(renderError(federated).lines, ['Error: Mesh "m": owned by global (400)', '  apply Mesh on the global control plane']);
    const bare = new ApiResponseError(503, 'Store unavailable', 'postgres is down', []);
    assert.deepEqual(renderError(bare).lines, ['Error: Store unavailable (503)', '  postgres is down']);
  });

  it('renders an unreachable control plane with a hint', () => {
    const e = new UnreachableError('http://127.0.0.1:5681', 'connect ECONNREFUSED');
    assert.deepEqual(renderError(e), {
      lines: ['Error: cannot reach the control plane at http://127.0.0.1:5681 (connect ECONNREFUSED): is it running? Use --cp to point elsewhere.'],
      exitCode: 1,
    });
  });

  it('renders a timeout', () => {
    const e = new TimeoutError('http://cp:5681', 'GET /meshes', 30_000);
    assert.deepEqual(renderError(e).lines, ['Error: the control plane at http://cp:5681 did not answer GET /meshes within 30s']);
  });

  it('gives usage mistakes exit code 2', () => {
    assert.deepEqual(renderError(new UsageError('missing TYPE')), { lines: ['Error: missing TYPE'], exitCode: 2 });
  });

  it('renders YAML syntax errors with the library message indented', () => {
    const e = new YamlSyntaxError('bad.yaml', [{ message: 'Flow sequence in block collection must be sufficiently indented at line 6, column 7:\n\nmtls: [unclosed\n      ^\n', line: 6, col: 7 }]);
    assert.deepEqual(renderError(e).lines, [
      'Error: bad.yaml is not valid YAML; nothing was applied',
      '  Flow sequence in block collection must be sufficiently indented at line 6, column 7:',
      '',
      '  mtls: [unclosed',
      '        ^',
    ]);
  });

  it('renders plain errors by their message', () => {
    assert.deepEqual(renderError(new InputError('cannot read x.yaml: no such file')).lines, ['Error: cannot read x.yaml: no such file']);
    assert.deepEqual(renderError('odd').lines, ['Error: odd']);
  });
});
