import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli, type CommandTable } from '../cli.js';
import { recordingEndpoint, recordingIo } from '../testing/fakes.js';
import { signingKeysCommand } from './signing-keys.js';

const COMMANDS: CommandTable = { 'signing-keys': signingKeysCommand };
const CP = 'http://cp.test:5681';
const K1 = { serial: 1, kid: 'kid-one', createdAt: '2026-12-01T10:00:00.000Z', signing: false };
const K2 = { serial: 2, kid: 'kid-two', createdAt: '2026-12-05T10:00:00.000Z', signing: true };

async function run(args: readonly string[], fetchFn?: typeof fetch) {
  const io = recordingIo(fetchFn ? { fetch: fetchFn } : {});
  const code = await runCli(args, COMMANDS, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

describe('meshfed signing-keys', () => {
  for (const [what, kind] of [['zone-token', 'zone'], ['dataplane-token', 'dataplane']] as const) {
    it(`${what}: lists, adds and removes through /tokens/${kind}/signing-keys`, async () => {
      const cp = recordingEndpoint((req) => (req.method === 'GET' ? Response.json({ items: [K1, K2] }) : req.method === 'POST' ? Response.json(K2, { status: 201 }) : Response.json(K1)));
      const list = await run(['signing-keys', 'list', what, '--cp', CP], cp.fetch);
      assert.equal(list.code, 0, list.err);
      assert.equal(list.out, [
        'SERIAL   KID       CREATED                    SIGNING',
        '1        kid-one   2026-12-01T10:00:00.000Z   no',
        '2        kid-two   2026-12-05T10:00:00.000Z   yes',
        '',
      ].join('\n'));
      const add = await run(['signing-keys', 'add', what, '--cp', CP], cp.fetch);
      assert.equal(add.out, `added ${kind} token signing key serial 2 (kid kid-two): it signs new ${kind} tokens; the older serials still verify theirs until removed\n`);
      const remove = await run(['signing-keys', 'remove', what, '1', '--cp', CP], cp.fetch);
      assert.equal(remove.out, `removed ${kind} token signing key serial 1 (kid kid-one): the ${kind} tokens it signed are refused, and the streams they opened end\n`);
      assert.deepEqual(cp.requests.map((r) => `${r.method} ${r.url}`), [
        `GET ${CP}/tokens/${kind}/signing-keys`, `POST ${CP}/tokens/${kind}/signing-keys`, `DELETE ${CP}/tokens/${kind}/signing-keys/1`,
      ]);
    });
  }

  it('lists as json or yaml', async () => {
    const cp = recordingEndpoint(() => Response.json({ items: [K2] }));
    assert.deepEqual(JSON.parse((await run(['signing-keys', 'list', 'zone-token', '-o', 'json', '--cp', CP], cp.fetch)).out), { items: [K2] });
    assert.match((await run(['signing-keys', 'list', 'zone-token', '-o', 'yaml', '--cp', CP], cp.fetch)).out, /^items:\n {2}- serial: 2\n/);
  });

  it('shows why the control plane refused', async () => {
    const cp = recordingEndpoint(() => Response.json({ title: 'Last signing key', details: 'zone token signing key serial 1 is the only one and cannot be removed: add a new one first, then remove this one', causes: [] }, { status: 409 }));
    const r = await run(['signing-keys', 'remove', 'zone-token', '1', '--cp', CP], cp.fetch);
    assert.equal(r.code, 1);
    assert.equal(r.err, 'Error: zone token signing key serial 1: last signing key (409)\n  zone token signing key serial 1 is the only one and cannot be removed: add a new one first, then remove this one\n');
  });

  const USAGE: [string, string[], RegExp][] = [
    ['nothing to do', ['signing-keys'], /^Error: missing what to do: list, add, remove\n/],
    ['an unknown action', ['signing-keys', 'rotate', 'zone-token'], /^Error: unknown action "rotate"; use list, add, remove\n/],
    ['no kind', ['signing-keys', 'list'], /^Error: missing whose keys: zone-token or dataplane-token or user-token\n/],
    ['an unknown kind', ['signing-keys', 'list', 'user'], /^Error: no signing keys for "user"; use zone-token or dataplane-token or user-token\n/],
    ['no serial', ['signing-keys', 'remove', 'zone-token'], /^Error: missing SERIAL: the key to remove, as "meshfed signing-keys list zone-token" shows it\n/],
    ['a bad serial', ['signing-keys', 'remove', 'zone-token', '0x1'], /^Error: SERIAL must be a serial number \(1, 2, …\)\n/],
    ['serial 0', ['signing-keys', 'remove', 'zone-token', '0'], /^Error: SERIAL must be 1 or more\n/],
    ['a serial to add', ['signing-keys', 'add', 'zone-token', '3'], /^Error: too many arguments: unexpected "3"\n/],
    ['output on add', ['signing-keys', 'add', 'zone-token', '-o', 'json'], /^Error: -o\/--output applies to "list" only\n/],
  ];
  for (const [name, args, message] of USAGE) {
    it(`usage: ${name}`, async () => {
      const r = await run([...args, '--cp', CP], async () => {
        throw new Error('no request expected');
      });
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
    });
  }

  it('--help says how to rotate', async () => {
    const r = await run(['signing-keys', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, /meshfed signing-keys remove zone-token\|dataplane-token\|user-token SERIAL/);
    assert.match(r.out, /"add" a key, issue new tokens/);
  });
});
