import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_CP_URL, expectPositionals, parseCommandArgs, resolveCpUrl } from './args.js';
import { UsageError } from './errors.js';

const OPTIONS = {
  mesh: { type: 'string' },
  'all-meshes': { type: 'boolean', short: 'A' },
  output: { type: 'string', short: 'o' },
  file: { type: 'string', short: 'f' },
} as const;

describe('parseCommandArgs', () => {
  it('reads positionals, long and short flags, inline values and global flags anywhere', () => {
    const p = parseCommandArgs(['dp', '--mesh', 'demo', '-o', 'yaml', 'dp-1', '--cp=http://x:1'], OPTIONS);
    assert.deepEqual(p.positionals, ['dp', 'dp-1']);
    assert.deepEqual(p.values, { mesh: 'demo', output: 'yaml' });
    assert.equal(p.cp, 'http://x:1');
    assert.equal(p.help, false);
  });

  it('reads boolean short flags and -h', () => {
    const p = parseCommandArgs(['dataplanes', '-A', '-h'], OPTIONS);
    assert.equal(p.values['all-meshes'], true);
    assert.equal(p.help, true);
  });

  it('accepts "-" as a value (stdin) and -oyaml', () => {
    assert.equal(parseCommandArgs(['-f', '-'], OPTIONS).values.file, '-');
    assert.equal(parseCommandArgs(['-oyaml'], OPTIONS).values.output, 'yaml');
  });

  it('treats everything after -- as positionals', () => {
    assert.deepEqual(parseCommandArgs(['--', '-weird'], OPTIONS).positionals, ['-weird']);
  });

  it('rejects unknown flags', () => {
    assert.throws(() => parseCommandArgs(['--bogus'], OPTIONS), (e: unknown) => e instanceof UsageError && e.message === 'unknown flag "--bogus"');
    assert.throws(() => parseCommandArgs(['-x'], OPTIONS), /unknown flag "-x"/);
  });

  it('rejects a missing value', () => {
    assert.throws(() => parseCommandArgs(['-o'], OPTIONS), (e: unknown) => e instanceof UsageError && e.message === 'flag -o/--output needs a value');
    assert.throws(() => parseCommandArgs(['--cp'], OPTIONS), /flag --cp needs a value/);
  });

  it('does not swallow the next flag as a value', () => {
    assert.throws(() => parseCommandArgs(['--mesh', '-A'], OPTIONS), /flag --mesh needs a value \(got the flag "-A"/);
  });

  it('rejects a value on a boolean flag', () => {
    assert.throws(() => parseCommandArgs(['--all-meshes=yes'], OPTIONS), /flag -A\/--all-meshes takes no value/);
  });
});

describe('resolveCpUrl', () => {
  it('prefers --cp, then MESHFED_CP, then the default', () => {
    assert.equal(resolveCpUrl('http://a:1', { MESHFED_CP: 'http://b:2' }), 'http://a:1');
    assert.equal(resolveCpUrl(undefined, { MESHFED_CP: 'http://b:2' }), 'http://b:2');
    assert.equal(resolveCpUrl(undefined, { MESHFED_CP: '' }), DEFAULT_CP_URL);
    assert.equal(resolveCpUrl(undefined, {}), 'http://127.0.0.1:5681');
  });

  it('drops trailing slashes', () => {
    assert.equal(resolveCpUrl('https://cp.example.com/api/', {}), 'https://cp.example.com/api');
  });

  it('rejects what is not an http(s) URL, naming where it came from', () => {
    assert.throws(() => resolveCpUrl('localhost:5681', {}), (e: unknown) => e instanceof UsageError && /^--cp must be an http/.test(e.message));
    assert.throws(() => resolveCpUrl(undefined, { MESHFED_CP: 'nope' }), /MESHFED_CP must be an http/);
    assert.throws(() => resolveCpUrl('ftp://x', {}), /got "ftp:\/\/x"/);
  });
});

describe('expectPositionals', () => {
  it('names what is missing and what is extra', () => {
    assert.deepEqual(expectPositionals(['a'], ['TYPE'], ['NAME']), ['a']);
    assert.throws(() => expectPositionals([], ['TYPE', 'NAME']), /^Error: missing TYPE and NAME$|missing TYPE and NAME/);
    assert.throws(() => expectPositionals(['a'], ['TYPE', 'NAME']), /missing NAME/);
    assert.throws(() => expectPositionals(['a', 'b', 'c'], ['TYPE'], ['NAME']), /too many arguments: unexpected "c"/);
  });
});
