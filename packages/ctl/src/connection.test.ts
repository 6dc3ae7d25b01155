// How the CLI connects: --ca-file/--skip-verify and the bearer token, against real HTTPS servers on
// loopback that record what they were sent, and the one-line errors for each way TLS can fail.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger, type RunningControlPlane, startControlPlane } from '@meshfed/shared';
import { generateCa, issueServerCertificate } from '@meshfed/shared/tls';
import { parseCommandArgs } from './args.js';
import { runCli } from './cli.js';
import { getCommand } from './commands/get.js';
import { planConnection } from './connection.js';
import { UsageError } from './errors.js';
import type { Io } from './io.js';
import { recordingIo } from './testing/fakes.js';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl';
const dir = mkdtempSync(join(tmpdir(), 'meshfed-ctl-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const f = join(dir, name);
  writeFileSync(f, content);
  return f;
};

/** The CLI with real files and the real fetch; what it printed and its exit code. */
async function meshfed(args: readonly string[], env: Record<string, string> = {}) {
  const fake = recordingIo({ env });
  const io: Io = { ...fake, fetch: globalThis.fetch, readFile: async (p) => readFileSync(p, 'utf8') };
  const code = await runCli(args, { get: getCommand }, io);
  return { code, out: fake.stdout(), err: fake.stderr() };
}

/** A server answering an empty mesh list, recording each request's headers. */
function recorder(): { seen: IncomingHttpHeaders[]; handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void } {
  const seen: IncomingHttpHeaders[] = [];
  return {
    seen,
    handler: (req, res) => {
      seen.push(req.headers);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ total: 0, items: [], next: null }));
    },
  };
}

const servers: Server[] = [];
after(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))));

async function listen(server: Server): Promise<number> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

describe('planConnection', () => {
  const plan = (argv: string[], env: Record<string, string> = {}, cp = 'https://cp:5682') => planConnection(parseCommandArgs(argv, {}).connection, env, cp);

  test('contradictions are usage errors, before anything is read or sent', () => {
    assert.throws(() => plan(['--token', 'a', '--token-file', 'f']), new UsageError('give --token or --token-file, not both'));
    assert.throws(() => plan(['--ca-file', 'f', '--skip-verify']), new UsageError('--ca-file and --skip-verify contradict each other: choose one'));
    assert.throws(() => plan(['--ca-file', 'f'], {}, 'http://cp:5681'), new UsageError('--ca-file is for an https:// control plane, and http://cp:5681 is http://'));
    assert.throws(() => plan(['--skip-verify'], {}, 'http://cp:5681'), /--skip-verify is for an https:\/\/ control plane/);
  });

  test('flags win over MESHFED_CA_FILE and MESHFED_TOKEN; the CA file from the environment is left out for http://', () => {
    const env = { MESHFED_CA_FILE: '/env/ca.crt', MESHFED_TOKEN: 'from-env' };
    assert.deepEqual(plan([], env), { skipVerify: false, caFile: { path: '/env/ca.crt', source: 'MESHFED_CA_FILE' }, token: { value: 'from-env', source: 'MESHFED_TOKEN' } });
    assert.deepEqual(plan(['--ca-file', 'f', '--token', 't'], env), { skipVerify: false, caFile: { path: 'f', source: '--ca-file' }, token: { value: 't', source: '--token' } });
    assert.deepEqual(plan(['--skip-verify', '--token-file', 'tf'], env), { skipVerify: true, tokenFile: 'tf' });
    assert.deepEqual(plan([], env, 'http://127.0.0.1:5681'), { skipVerify: false, token: { value: 'from-env', source: 'MESHFED_TOKEN' } });
  });
});

describe('meshfed over HTTPS', () => {
  let caFile: string;
  let otherCaFile: string;
  let url: string;
  const server = recorder();
  let elsewhereUrl: string;
  let plainUrl: string;

  before(async () => {
    const [ca, other] = await Promise.all([generateCa({ commonName: 'test API CA' }), generateCa({ commonName: 'someone else' })]);
    caFile = file('ca.crt', ca.certPem);
    otherCaFile = file('other-ca.crt', other.certPem);
    const pair = await issueServerCertificate(ca, { commonName: 'cp', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    url = `https://127.0.0.1:${await listen(createHttpsServer({ cert: pair.certPem, key: pair.keyPem }, server.handler))}`;
    const elsewhere = await issueServerCertificate(ca, { commonName: 'elsewhere', dnsNames: ['elsewhere.test'] });
    elsewhereUrl = `https://127.0.0.1:${await listen(createHttpsServer({ cert: elsewhere.certPem, key: elsewhere.keyPem }, recorder().handler))}`;
    plainUrl = `127.0.0.1:${await listen(createHttpServer(recorder().handler))}`;
  });

  test('--ca-file, and the token as "Authorization: Bearer" from --token, --token-file or MESHFED_TOKEN', async () => {
    const tokenFile = file('token', `${TOKEN}\n`);
    const runs: [string, string[], Record<string, string>][] = [
      ['--token', ['--ca-file', caFile, '--token', TOKEN], {}],
      ['--token-file', ['--ca-file', caFile, '--token-file', tokenFile], {}],
      ['MESHFED_TOKEN and MESHFED_CA_FILE', [], { MESHFED_TOKEN: TOKEN, MESHFED_CA_FILE: caFile }],
      ['global flags before the command', [], {}],
    ];
    for (const [what, flags, env] of runs) {
      server.seen.length = 0;
      const args = what === 'global flags before the command' ? ['--cp', url, '--ca-file', caFile, '--token', TOKEN, 'get', 'meshes'] : ['get', 'meshes', '--cp', url, ...flags];
      const r = await meshfed(args, env);
      assert.equal(r.code, 0, `${what}: ${r.err}`);
      assert.equal(server.seen.length, 1, what);
      assert.equal(server.seen[0]!.authorization, `Bearer ${TOKEN}`, what);
    }
    server.seen.length = 0;
    assert.equal((await meshfed(['get', 'meshes', '--cp', url, '--ca-file', caFile])).code, 0);
    assert.equal(server.seen[0]!.authorization, undefined, 'no token, no header');
  });

  test('--skip-verify connects to a certificate it cannot verify', async () => {
    server.seen.length = 0;
    const r = await meshfed(['get', 'meshes', '--cp', url, '--skip-verify', '--token', TOKEN]);
    assert.equal(r.code, 0, r.err);
    assert.equal(server.seen[0]!.authorization, `Bearer ${TOKEN}`);
  });

  test('an unknown CA, another CA, a certificate for other names, https:// to plain HTTP: one line saying what to do, no token', async () => {
    const cases: [string[], string][] = [
      [['--cp', url], `Error: the control plane at ${url} presents a certificate from an unknown CA (UNABLE_TO_VERIFY_LEAF_SIGNATURE): pass --ca-file with the API's CA (GET /api-ca.crt) or --skip-verify\n`],
      [['--cp', url, '--ca-file', otherCaFile], `Error: the control plane at ${url} presents a certificate the CA in --ca-file ${otherCaFile} did not sign (UNABLE_TO_VERIFY_LEAF_SIGNATURE): pass --ca-file with the API's CA (GET /api-ca.crt) or --skip-verify\n`],
      [['--cp', elsewhereUrl, '--ca-file', caFile], `Error: the control plane at ${elsewhereUrl} presents a certificate that is not for "127.0.0.1" (it is for DNS:elsewhere.test): use one of those names in --cp, or give the control plane a certificate for "127.0.0.1" (--api-tls-cert)\n`],
      [['--cp', `https://${plainUrl}`, '--ca-file', caFile], `Error: the control plane at https://${plainUrl} does not speak TLS on port ${plainUrl.split(':')[1]}, it answers plain HTTP: use --cp http://${plainUrl}, or the API's HTTPS port (--api-tls-port, default 5682)\n`],
      [['--cp', `https://${plainUrl}`], `Error: the control plane at https://${plainUrl} does not speak TLS on port ${plainUrl.split(':')[1]}, it answers plain HTTP: use --cp http://${plainUrl}, or the API's HTTPS port (--api-tls-port, default 5682)\n`],
    ];
    for (const [flags, expected] of cases) {
      const r = await meshfed(['get', 'meshes', ...flags, '--token', TOKEN]);
      assert.equal(r.code, 1, flags.join(' '));
      assert.equal(r.err, expected);
      assert.ok(!r.err.includes(TOKEN));
    }
  });

  test('usage errors exit 2 in one line; a token that cannot be one is refused without being printed', async () => {
    const both = await meshfed(['get', 'meshes', '--cp', url, '--token', TOKEN, '--token-file', file('t2', TOKEN)]);
    assert.equal(both.code, 2);
    assert.equal(both.err.split('\n')[0], 'Error: give --token or --token-file, not both');
    assert.ok(!both.err.includes(TOKEN));
    const contradiction = await meshfed(['get', 'meshes', '--cp', url, '--ca-file', caFile, '--skip-verify']);
    assert.equal(contradiction.code, 2);
    assert.equal(contradiction.err.split('\n')[0], 'Error: --ca-file and --skip-verify contradict each other: choose one');
    const secret = 'not a token\r\nX-Evil: 1';
    const bad = await meshfed(['get', 'meshes', '--cp', url, '--ca-file', caFile, `--token=${secret}`]);
    assert.equal(bad.code, 1);
    assert.equal(bad.err, 'Error: the token in --token is not a token: it has spaces, control or non-ASCII characters\n');
    const empty = await meshfed(['get', 'meshes', '--cp', url, '--ca-file', caFile, '--token-file', file('empty', '\n')]);
    assert.equal(empty.err, `Error: --token-file ${join(dir, 'empty')} is empty\n`);
    const notPem = await meshfed(['get', 'meshes', '--cp', url, '--ca-file', file('not-pem', 'hello')]);
    assert.equal(notPem.err, `Error: --ca-file ${join(dir, 'not-pem')} holds no PEM certificate: give the API's CA, from GET /api-ca.crt\n`);
  });
});

describe('meshfed against a control plane\'s HTTPS port', () => {
  let cp: RunningControlPlane;
  before(async () => {
    cp = await startControlPlane({
      component: 'zone', mode: 'standalone', store: 'memory', apiPort: 0, apiAddress: '127.0.0.1', logLevel: 'warn', createDefaultMesh: true,
      apiTls: { kind: 'own-ca', port: 0 }, log: createLogger({ component: 'test', level: 'warn' }),
    });
  });
  after(() => cp?.stop());

  test('the CA from GET /api-ca.crt verifies it; http:// to the HTTPS port says to use https://', async () => {
    const ca = file('api-ca.crt', await (await fetch(`${cp.url}/api-ca.crt`)).text());
    const ok = await meshfed(['get', 'meshes', '--cp', cp.tlsUrl!, '--ca-file', ca, '-o', 'json']);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /"name": "default"/);
    const byName = await meshfed(['get', 'meshes', '--cp', `https://localhost:${cp.tlsPort}`, '--ca-file', ca]);
    assert.equal(byName.code, 0, byName.err);
    const plain = await meshfed(['get', 'meshes', '--cp', `http://127.0.0.1:${cp.tlsPort}`]);
    assert.equal(plain.code, 1);
    assert.equal(plain.err, `Error: the control plane at http://127.0.0.1:${cp.tlsPort} serves HTTPS on that port: use --cp https://127.0.0.1:${cp.tlsPort} (with --ca-file or --skip-verify)\n`);
  });
});
