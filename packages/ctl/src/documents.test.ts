import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDocuments } from './documents.js';
import { YamlSyntaxError } from './errors.js';

describe('parseDocuments', () => {
  it('splits documents and tells where each starts', () => {
    const text = `# comment
type: Mesh
name: default
---
type: Dataplane
name: dp-1
networking:
  address: 10.0.0.1
---
# only a comment
---
type: Mesh
name: other
---
`;
    const docs = parseDocuments(text, 'f.yaml');
    assert.deepEqual(
      docs.map((d) => [d.index, d.line, (d.value as { name: string }).name]),
      [
        [1, 2, 'default'],
        [2, 5, 'dp-1'],
        [4, 12, 'other'],
      ],
    );
    assert.deepEqual(docs[1]?.value, { type: 'Dataplane', name: 'dp-1', networking: { address: '10.0.0.1' } });
  });

  it('reads JSON', () => {
    const docs = parseDocuments('{"type": "Mesh", "name": "m", "labels": {"a": "b"}}', 'f.json');
    assert.deepEqual(docs.map((d) => d.value), [{ type: 'Mesh', name: 'm', labels: { a: 'b' } }]);
  });

  it('answers nothing for an empty input', () => {
    assert.deepEqual(parseDocuments('', 'f.yaml'), []);
    assert.deepEqual(parseDocuments('# nothing\n', 'f.yaml'), []);
  });

  it('reports a syntax error with its line and column, even after good documents', () => {
    const text = 'type: Mesh\nname: a\n---\ntype: Mesh\nname: b\nmtls: [unclosed\n';
    assert.throws(
      () => parseDocuments(text, 'bad.yaml'),
      (e: unknown) => {
        assert.ok(e instanceof YamlSyntaxError);
        assert.equal(e.source, 'bad.yaml');
        assert.ok(e.problems.length >= 1);
        const p = e.problems[0]!;
        assert.equal(p.line, 7);
        assert.match(p.message, /at line \d+, column \d+/);
        return true;
      },
    );
  });

  it('reports a bad indentation where the yaml library sees it', () => {
    const text = 'type: Mesh\nname: a\n  bad: indent\n';
    assert.throws(
      () => parseDocuments(text, 'bad.yaml'),
      (e: unknown) =>
        e instanceof YamlSyntaxError && e.problems.some((p) => p.line === 2 && p.col === 7 && /^Nested mappings are not allowed.* at line 2, column 7:/.test(p.message)),
    );
  });

  it('reports duplicate keys', () => {
    assert.throws(
      () => parseDocuments('type: Mesh\nname: a\nname: b\n', 'dup.yaml'),
      (e: unknown) => e instanceof YamlSyntaxError && e.problems.some((p) => /unique/i.test(p.message) && p.line === 3),
    );
  });
});
