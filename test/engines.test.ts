// `engines` in package.json is what a user reads before installing: every installed package must run on
// every Node it admits, or npm warns on each install (and something may break at run time).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import semver from 'semver';

const ROOT = join(import.meta.dirname, '..');
const read = (f: string) => JSON.parse(readFileSync(join(ROOT, f), 'utf8'));

test('every locked package supports every Node version the root package.json admits', () => {
  const admitted: string = read('package.json').engines.node;
  assert.ok(semver.satisfies(process.version, admitted), `this Node (${process.version}) is outside the declared ${admitted}`);
  const packages = read('package-lock.json').packages as Record<string, { version?: string; engines?: { node?: string } }>;
  const narrower = Object.entries(packages)
    .filter(([path, p]) => path !== '' && p.engines?.node && !semver.subset(admitted, p.engines.node))
    .map(([path, p]) => `${path.replace(/^.*node_modules\//, '')}@${p.version} needs node ${p.engines!.node}`);
  assert.deepEqual(narrower, [], `package.json declares node ${admitted}`);
});
