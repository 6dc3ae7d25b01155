import { type RotatableTokenKind, type SigningKeyInfo, SigningKeySerialSchema } from '@meshfed/shared/resources';
import { expectPositionals, parseCommandArgs } from '../args.js';
import { clientFor } from '../client.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import type { Io } from '../io.js';
import { parseOutputFormat, renderValue } from '../output.js';
import { renderTable } from '../table.js';

const KINDS = { 'zone-token': 'zone', 'dataplane-token': 'dataplane', 'user-token': 'user' } as const satisfies Record<string, RotatableTokenKind>;
type KindArg = keyof typeof KINDS;
const ACTIONS = ['list', 'add', 'remove'] as const;
type Action = (typeof ACTIONS)[number];

const HELP = `Rotate the keys that sign zone, dataplane and user tokens, by serial number.

The newest serial signs every new token; every present serial still verifies the tokens it signed;
removing a serial refuses its tokens from then on, and ends at once the KDS and xDS streams they opened.

Usage:
  meshfed signing-keys list zone-token|dataplane-token|user-token [-o table|yaml|json] [flags]
  meshfed signing-keys add zone-token|dataplane-token|user-token [flags]
  meshfed signing-keys remove zone-token|dataplane-token|user-token SERIAL [flags]

What:
  zone-token       the keys of the global control plane (or of a standalone zone) that sign zone tokens.
                   Global publishes the public half of every present key to its zones, for their
                   ingresses and egresses. A federated zone has none: ask global.
  dataplane-token  a zone control plane's own keys, which sign the dataplane tokens it issues.
  user-token       a control plane's own keys, which sign the user tokens of its API (the admin
                   token included: it is replaced when its key is removed).

Rotating: "add" a key, issue new tokens and give them to the zones or proxies, then "remove" the old
serial. The last key cannot be removed; at most 10 are kept.

Flags:
  -o, --output FORMAT   list as table (default), yaml or json
      --cp URL          control plane API (default http://127.0.0.1:5681, or env MESHFED_CP)
      --ca-file, --skip-verify, --token, --token-file: HTTPS and authentication, see "meshfed --help"
  -h, --help            show this help

Examples:
  meshfed signing-keys add zone-token --cp http://global:5681
  meshfed signing-keys list zone-token --cp http://global:5681
  meshfed signing-keys remove zone-token 1 --cp http://global:5681
  meshfed signing-keys remove dataplane-token 1 --cp http://zone-1:5681
`;

const noun = (kind: RotatableTokenKind) => `${kind} token signing key`;

function table(keys: readonly SigningKeyInfo[]): string {
  return renderTable(['SERIAL', 'KID', 'CREATED', 'SIGNING'], keys.map((k) => [String(k.serial), k.kid, k.createdAt, k.signing ? 'yes' : 'no']));
}

export const signingKeysCommand: Command = {
  summary: 'List, add or remove the keys that sign zone and dataplane tokens',
  synopsis: 'meshfed signing-keys list|add|remove zone-token|dataplane-token|user-token [SERIAL] [flags] (see --help)',
  help: HELP,
  async run(args, io: Io) {
    const parsed = parseCommandArgs(args, { output: { type: 'string', short: 'o' } });
    const [action, what] = parsed.positionals;
    if (action === undefined) throw new UsageError(`missing what to do: ${ACTIONS.join(', ')}`);
    if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`unknown action "${action}"; use ${ACTIONS.join(', ')}`);
    const kinds = Object.keys(KINDS).join(' or ');
    if (what === undefined) throw new UsageError(`missing whose keys: ${kinds}`);
    if (!Object.hasOwn(KINDS, what)) throw new UsageError(`no signing keys for "${what}"; use ${kinds}`);
    const kind = KINDS[what as KindArg];
    if (parsed.values.output !== undefined && action !== 'list') throw new UsageError('-o/--output applies to "list" only');
    const client = clientFor(parsed, io);
    switch (action as Action) {
      case 'list': {
        expectPositionals(parsed.positionals, ['ACTION', 'WHAT']);
        const format = parseOutputFormat(parsed.values.output);
        const keys = await client.listSigningKeys(kind);
        io.out(format === 'table' ? table(keys) : renderValue({ items: keys }, format));
        return 0;
      }
      case 'add': {
        expectPositionals(parsed.positionals, ['ACTION', 'WHAT']);
        const k = await client.addSigningKey(kind);
        io.out(`added ${noun(kind)} serial ${k.serial} (kid ${k.kid}): it signs new ${kind} tokens; the older serials still verify theirs until removed\n`);
        return 0;
      }
      case 'remove': {
        if (parsed.positionals.length === 2) throw new UsageError(`missing SERIAL: the key to remove, as "meshfed signing-keys list ${what}" shows it`);
        const [, , raw = ''] = expectPositionals(parsed.positionals, ['ACTION', 'WHAT', 'SERIAL']);
        const serial = SigningKeySerialSchema.safeParse(raw);
        if (!serial.success) throw new UsageError(`SERIAL ${serial.error.issues[0]?.message ?? 'is invalid'}`);
        const k = await client.removeSigningKey(kind, serial.data);
        io.out(`removed ${noun(kind)} serial ${k.serial} (kid ${k.kid}): the ${kind} tokens it signed are refused, and the streams they opened end\n`);
        return 0;
      }
    }
  },
};
