// A user's clone has nothing beside it and none of the build machine's paths: no tracked file may
// read outside the repository, so the examples, tests and README work wherever the clone is.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..');
const SELF = relative(ROOT, import.meta.filename);

function trackedFiles(): string[] {
  try {
    return execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  } catch {
    // Not a git checkout (an unpacked archive): every file but what install and build make.
    const out: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(join(ROOT, dir))) {
        if (['node_modules', 'dist', '.git', '.lab'].includes(e)) continue;
        const p = join(dir, e);
        if (statSync(join(ROOT, p)).isDirectory()) walk(p);
        else out.push(p);
      }
    };
    walk('');
    return out;
  }
}

const outside = (file: string, target: string) => {
  const r = relative(ROOT, resolve(ROOT, dirname(file), target));
  return r === '..' || r.startsWith(`..${sep}`);
};

/** Every place in a file's text that points outside the repository, with its line. */
export function escapes(file: string, text: string): string[] {
  const found: string[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const at = `${file}:${i + 1}`;
    // A relative path such as ../../x, taken from the file's own folder.
    for (const m of line.matchAll(/(?:\.\.\/)+[\w.-]+/g)) if (outside(file, m[0])) found.push(`${at}: ${m[0]}`);
    // The same written as path segments: join(import.meta.dirname, '..', '..', 'x').
    for (const m of line.matchAll(/dirname((?:\s*,\s*['"][^'"]*['"])+)/g)) {
      const parts = [...m[1]!.matchAll(/['"]([^'"]*)['"]/g)].map((p) => p[1]!);
      if (outside(file, join(...parts))) found.push(`${at}: ${m[0]}`);
    }
    // Absolute paths of the machine the repository was built on.
    for (const m of line.matchAll(/(?<![\w.])\/(?:work|home|root|Users)\/[\w.-]+/g)) found.push(`${at}: ${m[0]}`);
    if (line.includes(ROOT)) found.push(`${at}: ${ROOT}`);
  });
  return found;
}

test('no tracked file refers outside the repository or to a path of the build machine', () => {
  const files = trackedFiles().filter((f) => f !== SELF && f !== 'package-lock.json');
  assert.ok(files.length > 50, `found only ${files.length} files`);
  const found = files.flatMap((f) => {
    const text = readFileSync(join(ROOT, f));
    return text.includes(0) ? [] : escapes(f, text.toString('utf8'));
  });
  assert.deepEqual(found, []);
});

test('the check finds what it is meant to find', () => {
  assert.deepEqual(escapes('test/x.ts', "const a = '../../beside/docs/a.yaml';"), ['test/x.ts:1: ../../beside']);
  assert.deepEqual(escapes('packages/ctl/tsconfig.json', '{ "path": "../shared" }'), []);
  assert.equal(escapes('test/x.ts', "join(import.meta.dirname, '..', '..', 'beside', 'docs')").length, 1);
  assert.deepEqual(escapes('test/x.ts', "join(import.meta.dirname, '..', 'examples')"), []);
  assert.equal(escapes('README.md', 'meshfed apply -f /home/ci/shared/a.yaml').length, 1);
});
