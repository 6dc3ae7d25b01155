import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli, type CommandTable } from '../cli.js';
import { recordingEndpoint, recordingIo } from '../testing/fakes.js';
import { generateCommand } from './generate.js';
import { revokeCommand, revokeHint, tokenIdOf } from './revoke.js';

const COMMANDS: CommandTable = { revoke: revokeCommand, generate: generateCommand };
const CP = 'http://cp.test:5681';
const ID = '0b6c5c7e-2f1d-4c55-9a53-1c4e2d1f7a10';
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (payload: unknown) => `${b64({ alg: 'ES256', kid: 'k' })}.${b64(payload)}.c2lnbmF0dXJl`;

async function run(args: readonly string[], fetchFn?: typeof fetch) {
  const io = recordingIo(fetchFn ? { fetch: fetchFn } : {});
  const code = await runCli(args, COMMANDS, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

describe('meshfed revoke', () => {
  for (const [what, kind] of [['zone-token', 'zone'], ['dataplane-token', 'dataplane']] as const) {
    it(`${what}: posts the id to /tokens/${kind}/revocations and says what happened`, async () => {
      let outcome = 'revoked';
      const cp = recordingEndpoint((req) => Response.json({ kind, id: (req.body as { id: string }).id, outcome }));
      const r = await run(['revoke', what, ID, '--cp', CP], cp.fetch);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, `revoked ${kind} token ${ID}\n`);
      assert.equal(cp.requests[0]!.method, 'POST');
      assert.equal(cp.requests[0]!.url, `${CP}/tokens/${kind}/revocations`);
      assert.deepEqual(cp.requests[0]!.body, { id: ID });
      outcome = 'already-revoked';
      const again = await run(['revoke', what, ID, '--cp', CP], cp.fetch);
      assert.equal(again.code, 0, again.err);
      assert.equal(again.out, `${kind} token ${ID} was already revoked\n`);
    });
  }

  it('shows the refusal of a federated zone', async () => {
    const cp = recordingEndpoint(() => Response.json({ title: 'Not revoked here', details: 'zone tokens are revoked on the global control plane', causes: [] }, { status: 400 }));
    const r = await run(['revoke', 'zone-token', ID, '--cp', CP], cp.fetch);
    assert.equal(r.code, 1);
    assert.equal(r.err, `Error: zone token ${ID}: not revoked here (400)\n  zone tokens are revoked on the global control plane\n`);
  });

  const USAGE: [string, string[], RegExp][] = [
    ['nothing to revoke', ['revoke'], /^Error: missing what to revoke: zone-token, dataplane-token, user-token\n/],
    ['an unknown kind', ['revoke', 'zone'], /^Error: cannot revoke "zone"; can revoke: zone-token, dataplane-token, user-token\n/],
    ['no id', ['revoke', 'zone-token'], /^Error: missing ID: the token id \(its "jti"\), printed by "meshfed generate zone-token"\n/],
    ['two ids', ['revoke', 'zone-token', 'a', 'b'], /^Error: too many arguments: unexpected "b"\n/],
    ['a bad id', ['revoke', 'dataplane-token', 'a b'], /^Error: ID must contain only letters, digits/],
  ];
  for (const [name, args, message] of USAGE) {
    it(`usage mistake, exit 2, nothing sent: ${name}`, async () => {
      const cp = recordingEndpoint(() => assert.fail('nothing should be sent'));
      const r = await run(args, cp.fetch);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
      assert.equal(cp.requests.length, 0);
    });
  }

  it('a whole token given as the id is refused without being printed', async () => {
    const token = jwt({ jti: ID, zone: 'zone-1', pad: 'x'.repeat(200) });
    const r = await run(['revoke', 'zone-token', token]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^Error: ID must be the token id \(the "jti" of its payload\), not the token itself\n/);
    assert.ok(!r.err.includes(token));
  });
});

describe('the token id of a generated token', () => {
  it('is read from the payload, client-side', () => {
    assert.equal(tokenIdOf(jwt({ jti: ID })), ID);
    assert.equal(tokenIdOf(jwt({ zone: 'z' })), undefined);
    assert.equal(tokenIdOf(jwt({ jti: 'not printable\n' })), undefined);
    assert.equal(tokenIdOf('not-a-jwt'), undefined);
    assert.equal(revokeHint('dataplane-token', jwt({ jti: ID })), `token id ${ID} (revoke it with "meshfed revoke dataplane-token ${ID}")\n`);
  });

  it('is printed on standard error by meshfed generate, the token alone on standard output', async () => {
    const token = jwt({ jti: ID, zone: 'zone-1' });
    const cp = recordingEndpoint(() => new Response(token, { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' } }));
    const r = await run(['generate', 'zone-token', '--zone', 'zone-1', '--scope', 'zone', '--cp', CP], cp.fetch);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `${token}\n`);
    assert.equal(r.err, `token id ${ID} (revoke it with "meshfed revoke zone-token ${ID}")\n`);
  });
});
