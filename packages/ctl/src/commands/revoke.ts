import { TokenIdSchema } from '@meshfed/shared/resources';
import { expectPositionals, parseCommandArgs } from '../args.js';
import { clientFor } from '../client.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import type { Io } from '../io.js';

const KINDS = { 'zone-token': 'zone', 'dataplane-token': 'dataplane', 'user-token': 'user' } as const;
type RevocableArg = keyof typeof KINDS;

const HELP = `Revoke a token by its id: it is refused from now on, and the streams it opened end at once.

Usage:
  meshfed revoke zone-token ID [flags]
  meshfed revoke dataplane-token ID [flags]
  meshfed revoke user-token ID [flags]

What:
  zone-token       a zone token, on whoever issued it: the global control plane (the revocation reaches
                   every zone over KDS, for their ingresses and egresses), or a standalone zone.
                   The zone's KDS connection, and ingress and egress streams, opened with it end.
  dataplane-token  a dataplane token, on the zone control plane that issued it. The proxy's xDS stream
                   opened with it ends.
  user-token       a user token, on the control plane that issued it.

ID is the token's id (the "jti" of its payload), printed on standard error by "meshfed generate".
Revoking a token already revoked succeeds. Up to 10,000 tokens of each kind can be revoked.

Flags:
      --cp URL    control plane API (default http://127.0.0.1:5681, or env MESHFED_CP)
      --ca-file, --skip-verify, --token, --token-file: HTTPS and authentication, see "meshfed --help"
  -h, --help      show this help

Examples:
  meshfed revoke zone-token 0b6c5c7e-2f1d-4c55-9a53-1c4e2d1f7a10 --cp http://global:5681
  meshfed revoke dataplane-token 7d0e1a52-97c4-4f0e-b1de-5a1f3c2b9e44 --cp http://zone-1:5681
`;

/** The `jti` of a JWT, read client-side without verifying: only to print it. Undefined when there is none fit to print. */
export function tokenIdOf(token: string): string | undefined {
  try {
    const payload: unknown = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    const jti = payload && typeof payload === 'object' ? (payload as { jti?: unknown }).jti : undefined;
    return typeof jti === 'string' && TokenIdSchema.safeParse(jti).success ? jti : undefined;
  } catch {
    return undefined;
  }
}

/** The line "meshfed generate" prints on standard error after a token: how to revoke it. */
export function revokeHint(what: RevocableArg, token: string): string {
  const id = tokenIdOf(token);
  return id === undefined ? '' : `token id ${id} (revoke it with "meshfed revoke ${what} ${id}")\n`;
}

export const revokeCommand: Command = {
  summary: 'Revoke a zone, dataplane or user token by its id',
  synopsis: 'meshfed revoke zone-token|dataplane-token|user-token ID [flags] (see --help)',
  help: HELP,
  async run(args, io: Io) {
    const parsed = parseCommandArgs(args, {});
    const kinds = Object.keys(KINDS).join(', ');
    if (parsed.positionals.length === 0) throw new UsageError(`missing what to revoke: ${kinds}`);
    const what = parsed.positionals[0]!;
    if (!Object.hasOwn(KINDS, what)) throw new UsageError(`cannot revoke "${what}"; can revoke: ${kinds}`);
    if (parsed.positionals.length === 1) throw new UsageError(`missing ID: the token id (its "jti"), printed by "meshfed generate ${what}"`);
    const [, id = ''] = expectPositionals(parsed.positionals, ['WHAT', 'ID']);
    const valid = TokenIdSchema.safeParse(id);
    // The message never repeats the argument: it may be a whole token, a credential.
    if (!valid.success) throw new UsageError(`ID ${valid.error.issues[0]?.message ?? 'is invalid'}`);
    const kind = KINDS[what as RevocableArg];
    const answer = await clientFor(parsed, io).revokeToken(kind, id);
    io.out(answer.outcome === 'revoked' ? `revoked ${kind} token ${id}\n` : `${kind} token ${id} was already revoked\n`);
    return 0;
  },
};
