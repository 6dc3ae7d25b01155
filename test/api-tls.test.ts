// The REST API over HTTPS, end to end: a global CP process on Postgres serves its API on an HTTPS port
// with a certificate from its own CA; the built `meshfed` trusts it with GET /api-ca.crt as --ca-file,
// refuses it in one line without, and the CA is the same after a restart on the same store.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createTestDatabase } from './support/postgres.js';
import { runToExit, startCp } from './support/processes.js';
import { meshfed, show } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'meshfed-api-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('meshfed over HTTPS with the CA from GET /api-ca.crt; one line without it; --skip-verify; the same CA after a restart on the same Postgres store', async () => {
  const db = await createTestDatabase();
  const args = ['--store', 'postgres', '--postgres-url', db.url, '--kds-insecure'];
  let global = await startCp('global', args);
  assert.ok(global.tlsUrl?.startsWith('https://127.0.0.1:'), `an HTTPS URL in "api listening": ${global.tlsUrl}`);
  assert.match(global.logs(), new RegExp(`meshfed --cp ${global.tlsUrl!.replace(/[.]/g, '\\.')} --ca-file <\\(curl -s ${global.url.replace(/[.]/g, '\\.')}/api-ca\\.crt\\)`));
  assert.doesNotMatch(global.logs(), /PRIVATE KEY/);

  const caPem = await (await fetch(`${global.url}/api-ca.crt`)).text();
  assert.match(caPem, /^-----BEGIN CERTIFICATE-----/);
  const caFile = join(dir, 'api-ca.crt');
  writeFileSync(caFile, caPem);

  const ok = await meshfed(['get', 'meshes', '--cp', global.tlsUrl!, '--ca-file', caFile]);
  assert.equal(ok.code, 0, show(ok));
  assert.match(ok.stdout, /^NAME\b/);
  assert.match(ok.stdout, /\ndefault\b/);

  const unknown = await meshfed(['get', 'meshes', '--cp', global.tlsUrl!]);
  assert.equal(unknown.code, 1, show(unknown));
  assert.equal(unknown.stderr, `Error: the control plane at ${global.tlsUrl} presents a certificate from an unknown CA (UNABLE_TO_VERIFY_LEAF_SIGNATURE): pass --ca-file with the API's CA (GET /api-ca.crt) or --skip-verify\n`);

  const skipped = await meshfed(['get', 'meshes', '--cp', global.tlsUrl!, '--skip-verify']);
  assert.equal(skipped.code, 0, show(skipped));
  assert.match(skipped.stdout, /\ndefault\b/);

  const both = await meshfed(['get', 'meshes', '--cp', global.tlsUrl!, '--ca-file', caFile, '--token', 'a.b.c', '--token-file', caFile]);
  assert.equal(both.code, 2, show(both));
  assert.equal(both.stderr.split('\n')[0], 'Error: give --token or --token-file, not both');

  // A restart issues a new certificate from the stored CA: the operator's --ca-file still verifies it.
  assert.equal(await global.stop(), 0);
  global = await startCp('global', args);
  assert.equal(await (await fetch(`${global.url}/api-ca.crt`)).text(), caPem, 'the same CA after the restart');
  const again = await meshfed(['get', 'meshes', '--cp', global.tlsUrl!, '--ca-file', caFile]);
  assert.equal(again.code, 0, show(again));
  assert.equal(await global.stop(), 0);
});

test('HTTPS flags: off with --api-tls-enabled=false; a certificate without its key is one line, exit 2', async () => {
  const plain = await startCp('zone', ['--api-tls-enabled=false']);
  assert.equal(plain.tlsUrl, undefined);
  assert.equal((await fetch(`${plain.url}/api-ca.crt`)).status, 404);
  await plain.stop();

  const r = await runToExit('zone', ['--api-port', '0', '--api-tls-port', '0', '--xds-port', '0', '--api-tls-cert', join(dir, 'x.crt')]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'meshfed-zone: --api-tls-cert and --api-tls-key must be given together\n');
});
