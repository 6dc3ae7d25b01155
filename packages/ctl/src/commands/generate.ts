import { durationSchema, durationToMs, resourceNameSchema } from '@meshfed/shared/resources';
import { expectPositionals, parseCommandArgs } from '../args.js';
import { clientFor } from '../client.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import type { Io } from '../io.js';

/** The scopes of a zone token, as the control plane's POST /tokens/zone accepts them. */
export const ZONE_TOKEN_SCOPES = ['zone', 'ingress', 'egress'] as const;
export const DEFAULT_ZONE_TOKEN_VALIDITY = '720h';

const OPTIONS = {
  zone: { type: 'string' },
  scope: { type: 'string', multiple: true },
  'valid-for': { type: 'string' },
} as const;

type Parsed = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>;

const HELP = `Generate a token, signed by the control plane.

Usage:
  meshfed generate zone-token --zone ZONE --scope SCOPE [--scope SCOPE ...] [--valid-for DURATION] [flags]

Tokens:
  zone-token   authenticates a zone control plane to global over KDS (scope "zone"), or a zone's
               ingress or egress proxy (scopes "ingress", "egress"). Issued by the global control
               plane, or by a standalone zone.

Flags:
      --zone ZONE           the zone the token is for (required)
      --scope SCOPE         zone, ingress or egress (required); repeat it or separate with commas
      --valid-for DURATION  how long the token is valid, such as 24h, 30d, 1y (default ${DEFAULT_ZONE_TOKEN_VALIDITY}, at most 10y)
      --cp URL              control plane API (default http://127.0.0.1:5681, or env MESHFED_CP)
  -h, --help                show this help

The token is printed on standard output, followed by a newline.

Example:
  meshfed generate zone-token --zone zone-1 --scope zone --valid-for 720h --cp http://global:5681 > zone-1.token
  meshfed-zone --zone zone-1 --global-address grpcs://global:5685 --zone-token-file zone-1.token
`;

/** `--scope zone --scope ingress,egress` → `['zone', 'ingress', 'egress']`, each checked, duplicates dropped. */
export function parseScopes(values: readonly string[] | undefined): string[] {
  const scopes = (values ?? []).flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (scopes.length === 0) throw new UsageError(`--scope is required: ${ZONE_TOKEN_SCOPES.join(', ')} (repeat it or separate with commas for several)`);
  for (const s of scopes) {
    if (!(ZONE_TOKEN_SCOPES as readonly string[]).includes(s)) throw new UsageError(`--scope "${s}" is not one of ${ZONE_TOKEN_SCOPES.join(', ')}`);
  }
  return [...new Set(scopes)];
}

async function zoneToken(parsed: Parsed, io: Io): Promise<number> {
  const zone = parsed.values.zone;
  if (zone === undefined) throw new UsageError('--zone is required: the name of the zone the token is for');
  const name = resourceNameSchema.safeParse(zone);
  if (!name.success) throw new UsageError(`--zone "${zone}": ${name.error.issues[0]?.message ?? 'invalid name'}`);
  const scope = parseScopes(parsed.values.scope);
  const validFor = parsed.values['valid-for'] ?? DEFAULT_ZONE_TOKEN_VALIDITY;
  if (!durationSchema.safeParse(validFor).success || durationToMs(validFor) <= 0) {
    throw new UsageError(`--valid-for "${validFor}" must be a positive duration such as 24h, 30d or 1y`);
  }
  const token = await clientFor(parsed.cp, io).issueZoneToken({ zone, scope, validFor });
  io.out(`${token}\n`);
  return 0;
}

const GENERATORS: Readonly<Record<string, (parsed: Parsed, io: Io) => Promise<number>>> = {
  'zone-token': zoneToken,
};

export const generateCommand: Command = {
  summary: 'Generate tokens (zone-token)',
  synopsis: 'meshfed generate zone-token --zone ZONE --scope SCOPE [--valid-for DURATION] [--cp URL]',
  help: HELP,
  async run(args, io) {
    const parsed = parseCommandArgs(args, OPTIONS);
    const kinds = Object.keys(GENERATORS).join(', ');
    if (parsed.positionals.length === 0) throw new UsageError(`missing what to generate: ${kinds}`);
    const [what = ''] = expectPositionals(parsed.positionals, ['WHAT']);
    const generate = Object.hasOwn(GENERATORS, what) ? GENERATORS[what] : undefined;
    if (!generate) throw new UsageError(`unknown token "${what}"; can generate: ${kinds}`);
    return generate(parsed, io);
  },
};
