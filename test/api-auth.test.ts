// Who may do what, end to end: real daemons with --api-localhost-is-admin=false (only loopback is
// available here, so loopback must not be trusted either), the built CLI with tokens, revocation of
// a user token and of a zone token whose KDS stream is open, and no token or key in any log line.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import pg from 'pg';
import { cleanups } from './support/cleanup.js';
import { eventually, FAST_GLOBAL, kdsPortOf, tmp } from './support/federation.js';
import { createTestDatabase } from './support/postgres.js';
import { startCp } from './support/processes.js';
import { type CliRun, jwtId, meshfed, show } from './support/cli.js';

const ROOT = join(import.meta.dirname, '..');
const NO_ADMIN = ['--api-localhost-is-admin=false'];

const outputs: string[] = [];

/** The CLI with a user token (or none), its stderr kept for the log check at the end. */
async function cli(args: readonly string[], token?: string): Promise<CliRun> {
  const r = await meshfed(args, token !== undefined ? { env: { MESHFED_TOKEN: token } } : {});
  outputs.push(r.stderr);
  return r;
}

async function adminToken(url: string): Promise<string> {
  const r = await fetch(`${url}/global-secrets/admin-user-token`);
  assert.equal(r.status, 200, await r.clone().text());
  return Buffer.from(((await r.json()) as { data: string }).data, 'base64').toString();
}

/** Every secret the store holds, as stored (base64) and decoded, split into the lines a log could carry. */
async function keyMaterial(dbUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ type: string; name: string; spec: { data?: string } }>(
      "select type, name, spec from resources where type in ('Secret', 'GlobalSecret')",
    );
    const out: string[] = [];
    for (const r of rows) {
      const data = r.spec.data;
      if (typeof data !== 'string') continue;
      out.push(data);
      const decoded = Buffer.from(data, 'base64').toString('utf8');
      // PEM bodies line by line, and the private scalar of a JWK.
      for (const line of decoded.split('\n')) if (line.length >= 40 && !line.startsWith('-----')) out.push(line.trim());
      const d = /"d":"([\w-]+)"/.exec(decoded)?.[1];
      if (d) out.push(d);
    }
    return out;
  } finally {
    await client.end();
  }
}

describe('an authenticated API, end to end', { timeout: 120_000 }, () => {
  test('anonymous 401, reader 403, admin allowed; revoked tokens refused and their streams ended; no secret in any log', async () => {
    const db = await createTestDatabase();
    const dir = tmp();
    cleanups.push(async () => dir.cleanup());
    const global = await startCp('global', ['--store', 'postgres', '--postgres-url', db.url, ...FAST_GLOBAL, ...NO_ADMIN]);
    const cp = ['--cp', global.url];

    // Anonymous: nothing but a 401 with the error body, even from loopback.
    const anonymous = await fetch(`${global.url}/meshes/m1`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'Mesh', name: 'm1' }) });
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { title: string }).title, 'Unauthenticated');
    const anonCli = await cli(['get', 'meshes', ...cp]);
    assert.notEqual(anonCli.code, 0, show(anonCli));
    assert.match(anonCli.stderr, /401|authentication required/i);

    // The admin token, from loopback only; with it the CLI mints a reader.
    const admin = await adminToken(global.url);
    const minted = await cli(['generate', 'user-token', '--name', 'alice', '--group', 'readers', '--valid-for', '1h', ...cp], admin);
    assert.equal(minted.code, 0, show(minted));
    const reader = minted.stdout.trim();

    // The admin writes; the reader reads, but neither writes, nor reads secrets, nor mints tokens.
    const applied = await cli(['apply', '-f', join(ROOT, 'examples', 'mesh-mtls-zoneegress.yaml'), ...cp], admin);
    assert.equal(applied.code, 0, show(applied));
    await eventually('the mesh CA', async () => (await cli(['get', 'secrets', ...cp], admin)).stdout.includes('default.ca-builtin-cert-ca-1'));
    const adminSecrets = await cli(['get', 'secrets', '-o', 'json', ...cp], admin);
    assert.equal(adminSecrets.code, 0, show(adminSecrets));
    assert.ok(!adminSecrets.stdout.includes('ca-builtin-key'), "the CA's private key is not served, even to the admin");

    const readerGet = await cli(['get', 'meshes', ...cp], reader);
    assert.equal(readerGet.code, 0, show(readerGet));
    assert.match(readerGet.stdout, /default/);
    const readerApply = await cli(['apply', '-f', join(ROOT, 'examples', 'policy-timeout.yaml'), ...cp], reader);
    assert.notEqual(readerApply.code, 0, show(readerApply));
    assert.match(readerApply.stderr, /lacks the right to CREATE MeshTimeout/);
    const readerSecrets = await cli(['get', 'secrets', ...cp], reader);
    assert.notEqual(readerSecrets.code, 0, show(readerSecrets));
    assert.match(readerSecrets.stderr, /lacks the right to READ Secret/);
    for (const what of [['zone-token', '--zone', 'z9', '--scope', 'zone'], ['user-token', '--name', 'mallory', '--group', 'mesh-system:admin']]) {
      const r = await cli(['generate', ...what, ...cp], reader);
      assert.notEqual(r.code, 0, show(r));
      assert.match(r.stderr, /lacks the right to GENERATE_(ZONE|USER)_TOKEN/);
    }

    // A zone connects with a zone token the admin made; revoking that token ends its stream at once.
    const zoneTok = await cli(['generate', 'zone-token', '--zone', 'zone-1', '--scope', 'zone', ...cp], admin);
    assert.equal(zoneTok.code, 0, show(zoneTok));
    const tokenFile = join(dir.dir, 'zone-1.token');
    writeFileSync(tokenFile, zoneTok.stdout);
    const zone = await startCp('zone', ['--zone', 'zone-1', '--global-address', `grpc://127.0.0.1:${kdsPortOf(global)}`, '--zone-token-file', tokenFile, ...NO_ADMIN]);
    const online = async () => {
      const r = await fetch(`${global.url}/zones+insights/zone-1`, { headers: { authorization: `Bearer ${reader}` } });
      return r.ok ? ((await r.json()) as { online?: boolean; status?: string }) : undefined;
    };
    await eventually('zone-1 online', async () => (await online())?.online === true);
    const revokeZone = await cli(['revoke', 'zone-token', jwtId(zoneTok.stdout.trim()), ...cp], admin);
    assert.equal(revokeZone.code, 0, show(revokeZone));
    const revokedAt = Date.now();
    await eventually('zone-1 offline', async () => (await online())?.online === false, 5_000);
    assert.ok(Date.now() - revokedAt < 1_500, `the zone's stream ended ${Date.now() - revokedAt} ms after the revocation`);
    await eventually('the reason in the zone log', async () => /revoked/.test(zone.logs()));

    // Revoking the reader: its next request is a 401 that says so.
    const revokeUser = await cli(['revoke', 'user-token', jwtId(reader), ...cp], admin);
    assert.equal(revokeUser.code, 0, show(revokeUser));
    const after = await cli(['get', 'meshes', ...cp], reader);
    assert.notEqual(after.code, 0);
    assert.match(after.stderr, new RegExp(`user token ${jwtId(reader)} was revoked`));

    // Rotating the user-token keys: a new serial signs; removing serial 1 refuses what it signed (the
    // admin token included), and the loopback-only route hands out a fresh admin token.
    const added = await cli(['signing-keys', 'add', 'user-token', ...cp], admin);
    assert.equal(added.code, 0, show(added));
    const second = await cli(['generate', 'user-token', '--name', 'bob', '--group', 'readers', ...cp], admin);
    assert.equal(second.code, 0, show(second));
    const removed = await cli(['signing-keys', 'remove', 'user-token', '1', ...cp], admin);
    assert.equal(removed.code, 0, show(removed));
    const oldAdmin = await cli(['get', 'meshes', ...cp], admin);
    assert.notEqual(oldAdmin.code, 0, show(oldAdmin));
    assert.match(oldAdmin.stderr, /which this control plane does not have/);
    assert.equal((await cli(['get', 'meshes', ...cp], second.stdout.trim())).code, 0, 'a token of the new serial works');
    const newAdmin = await adminToken(global.url);
    assert.notEqual(newAdmin, admin);
    assert.equal((await cli(['get', 'secrets', ...cp], newAdmin)).code, 0);

    // No token and no key material in any log line of the daemons or any CLI error.
    await zone.stop();
    await global.stop();
    const secrets = [admin, newAdmin, reader, second.stdout.trim(), zoneTok.stdout.trim(), ...(await keyMaterial(db.url))];
    assert.ok(secrets.length > 5, 'the store holds keys to look for');
    const logs = [global.logs(), zone.logs(), ...outputs].join('\n');
    for (const s of secrets) assert.ok(!logs.includes(s), `a secret of ${s.length} characters appears in a log`);
  });
});
