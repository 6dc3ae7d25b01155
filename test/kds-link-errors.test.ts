import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { eventually, FAST_ZONE, getJson, kdsPortOf, tmp, zoneToken } from './support/federation.js';
import { type RunningCp, startCp } from './support/processes.js';
import { cleanups } from './support/cleanup.js';


interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly zone?: string;
  readonly globalAddress?: string;
  readonly cause?: string;
}

const lines = (cp: RunningCp): LogLine[] => cp.logs().split('\n').flatMap((l) => {
  try {
    return [JSON.parse(l) as LogLine];
  } catch {
    return [];
  }
});

/** A loopback port nobody listens on: bound once by the OS, then released. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe('a zone that cannot reach global says why once, then retries quietly', () => {
  const t = tmp();
  cleanups.push(t.cleanup);

  test('wrong CA, no CA, grpc:// against TLS, nothing listening: one line each; the right CA connects', async () => {
    const { generateCa, generateSelfSignedCertificate } = await import('@meshfed/shared');
    // Global's own self-signed certificate, written out so the fixed zone can trust exactly it.
    const [cert, otherCa] = await Promise.all([generateSelfSignedCertificate({ commonName: 'meshfed-global', ipAddresses: ['127.0.0.1'] }), generateCa({ commonName: 'someone else' })]);
    for (const [f, pem] of [['kds.crt', cert.certPem], ['kds.key', cert.keyPem], ['other-ca.crt', otherCa.certPem]] as const) writeFileSync(join(t.dir, f), pem);
    const global = await startCp('global', ['--kds-tls-cert', join(t.dir, 'kds.crt'), '--kds-tls-key', join(t.dir, 'kds.key'), '--kds-health-check-interval', '300ms']);
    const kds = `127.0.0.1:${kdsPortOf(global)}`;
    const token = await zoneToken(global, 'zone-x');
    const tokenFile = join(t.dir, 'zone-x.token');
    writeFileSync(tokenFile, token);
    const dead = `127.0.0.1:${await deadPort()}`;

    const zoneArgs = (address: string, extra: string[] = []) => ['--zone', 'zone-x', '--global-address', address, '--zone-token-file', tokenFile, ...FAST_ZONE, '--log-level', 'debug', ...extra];
    const cases: { what: string; args: string[]; level: string; line: string }[] = [
      {
        what: 'no CA', args: zoneArgs(`grpcs://${kds}`), level: 'error',
        line: `cannot verify global's KDS certificate at ${kds} (self-signed certificate): pass --kds-ca-file with the CA that signed it, or --kds-skip-verify for a lab`,
      },
      {
        what: 'another CA', args: zoneArgs(`grpcs://${kds}`, ['--kds-ca-file', join(t.dir, 'other-ca.crt')]), level: 'error',
        line: `cannot verify global's KDS certificate at ${kds} (self-signed certificate): the CA in --kds-ca-file did not sign it; pass the CA that did`,
      },
      {
        what: 'grpc:// against TLS', args: zoneArgs(`grpc://${kds}`), level: 'error',
        line: `global at ${kds} hung up on plaintext gRPC (it speaks TLS?): use grpcs:// in --global-address`,
      },
      {
        what: 'nothing listening', args: zoneArgs(`grpc://${dead}`), level: 'warn',
        line: `nothing answers at ${dead} (connection refused): check --global-address and that global is running`,
      },
    ];
    // One zone at a time: a handful of daemons starting at once on a small CI machine is slower than this.
    for (const c of cases) {
      const zone = await startCp('zone', c.args);
      // Retries go on (each a debug line) while the line is said once: wait for several, bounded.
      await eventually(`${c.what}: three quiet retries`, async () => lines(zone).filter((l) => l.msg === 'KDS: same failure again; retrying').length >= 3, 10_000);
      const said = lines(zone).filter((l) => l.msg === c.line);
      assert.equal(said.length, 1, `${c.what}: said exactly once, got ${said.length}:\n${zone.logs()}`);
      assert.equal(said[0]!.level, c.level, c.what);
      assert.equal(said[0]!.zone, 'zone-x');
      assert.equal(said[0]!.globalAddress, c.args[3]);
      assert.equal(zone.logs().split(c.line).length - 1, 1, `${c.what}: the text appears nowhere else`);
      const { body } = await getJson(`${zone.url}/`);
      assert.equal(body.global.lastError, c.line, `${c.what}: GET / shows the cause`);
      assert.ok(!zone.logs().includes(token), `${c.what}: the token is never printed`);
      await zone.stop();
    }

    const fixed = await startCp('zone', zoneArgs(`grpcs://${kds}`, ['--kds-ca-file', join(t.dir, 'kds.crt')]));
    await eventually('fixed zone synced', async () => (await getJson(`${fixed.url}/meshes/default`)).status === 200, 10_000);
    const connected = lines(fixed).filter((l) => l.msg === `KDS: connected to global at ${kds}`);
    assert.equal(connected.length, 1, 'connecting is said once');
    assert.equal((await getJson(`${fixed.url}/`)).body.global.state, 'connected');
    assert.equal((await getJson(`${fixed.url}/`)).body.global.lastError, undefined);

    // A failure after the link was up is announced again, once.
    await global.stop();
    await eventually('the lost link is announced', async () => lines(fixed).some((l) => l.msg === `nothing answers at ${kds} (connection refused): check --global-address and that global is running`), 10_000);
    await eventually('three quiet retries after the loss', async () => lines(fixed).filter((l) => l.msg === 'KDS: same failure again; retrying').length >= 3, 10_000);
    assert.equal(lines(fixed).filter((l) => l.cause === 'refused' && l.level === 'warn').length, 1);
    assert.ok(!fixed.logs().includes(token));
  });
});
