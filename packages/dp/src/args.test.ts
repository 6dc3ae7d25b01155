import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlagError } from '@meshfed/shared';
import { parseArgs } from './args.js';

const base = ['run', '--cp', 'http://127.0.0.1:5681', '--dataplane-file', 'dp.yaml', '--bootstrap-file', 'b.json'];
const run = (...extra: string[]) => parseArgs([...base, ...extra], {});
const mistake = (argv: readonly string[], message: string | RegExp) =>
  assert.throws(() => parseArgs(argv, {}), (e: unknown) => e instanceof FlagError && (typeof message === 'string' ? e.message === message : message.test(e.message)));

test('run --proxyless: defaults and flags', () => {
  const c = run('--proxyless', '--token-file', 't');
  assert.equal(c.kind, 'run');
  if (c.kind !== 'run') return;
  assert.equal(c.flags.proxyless, true);
  assert.equal(c.flags.xdsListen, undefined, 'the agent listens on DEFAULT_XDS_LISTEN');
  assert.equal(c.flags.tokenFile, 't');
  assert.equal(c.flags.skipVerify, false);
  for (const listen of ['unix:/tmp/dp.sock', '[::1]:0', 'localhost:15000']) {
    const l = run('--proxyless', '--xds-listen', listen);
    assert.equal(l.kind === 'run' && l.flags.xdsListen, listen);
  }
});

test('help, and every mistake is one FlagError naming the flag', () => {
  assert.equal(parseArgs(['--help'], {}).kind, 'help');
  assert.equal(parseArgs(['run', '--help'], {}).kind, 'help');
  mistake(['start'], /^unknown command "start"/);
  mistake([...base.slice(0, 1)], /--cp/);
  mistake(['run', '--cp', 'localhost:5681', '--dataplane-file', 'x', '--bootstrap-file', 'b', '--proxyless'], /^invalid --cp "localhost:5681": must be the zone API URL/);
  mistake([...base, '--proxyless', '--xds-listen', 'nowhere'], /^invalid --xds-listen "nowhere": must be host:port/);
  mistake([...base, '--proxyless', '--bogus'], /^unknown flag --bogus/);
  mistake(base, /^--envoy-binary is required without --proxyless/);
  mistake([...base, '--proxyless', '--envoy-binary', '/usr/bin/envoy'], /^--envoy-binary and --proxyless contradict/);
  mistake([...base, '--proxyless', '--skip-verify'], '--skip-verify is for an https:// zone API, and --cp http://127.0.0.1:5681 is http://');
  mistake(['run', '--cp', 'https://cp:5682', '--dataplane-file', 'x', '--bootstrap-file', 'b', '--proxyless', '--ca-file', 'c', '--skip-verify'], '--ca-file and --skip-verify contradict each other: choose one');
  mistake([...base, '--envoy-binary', 'envoy', '--xds-listen', '127.0.0.1:9'], /^--xds-listen is for --proxyless/);
  mistake([...base, '--envoy-binary', 'envoy', '--xds-listen', '127.0.0.1:0'], /^--xds-listen is for --proxyless/);
  // The token would cross the network in clear text: only loopback may be plain HTTP.
  mistake(['run', '--cp', 'http://zone-1:5681', '--dataplane-file', 'x', '--bootstrap-file', 'b', '--proxyless'], /^--cp http:\/\/zone-1:5681: a zone API beyond this host must be https:\/\//);
  for (const cp of ['http://localhost:5681', 'http://127.0.0.2:5681', 'http://[::1]:5681']) assert.equal(parseArgs(['run', '--cp', cp, '--dataplane-file', 'x', '--bootstrap-file', 'b', '--proxyless'], {}).kind, 'run', cp);
});
