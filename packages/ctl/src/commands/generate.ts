import { durationSchema, durationToMs, resourceNameSchema } from '@meshfed/shared/resources';
import { expectPositionals, parseCommandArgs } from '../args.js';
import { clientFor } from '../client.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import type { Io } from '../io.js';
import { writeKdsCertificates } from '../kds-certs.js';

/** The scopes of a zone token, as the control plane's POST /tokens/zone accepts them. */
export const ZONE_TOKEN_SCOPES = ['zone', 'ingress', 'egress'] as const;
export const DEFAULT_ZONE_TOKEN_VALIDITY = '720h';

const OPTIONS = {
  zone: { type: 'string' },
  scope: { type: 'string', multiple: true },
  'valid-for': { type: 'string' },
  dir: { type: 'string' },
  name: { type: 'string', multiple: true },
} as const;

type Parsed = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>;

const HELP = `Generate a token signed by the control plane, or KDS certificates.

Usage:
  meshfed generate zone-token --zone ZONE --scope SCOPE [--scope SCOPE ...] [--valid-for DURATION] [flags]
  meshfed generate kds-certs --dir DIR [--name NAME ...]

What:
  zone-token   authenticates a zone control plane to global over KDS (scope "zone"), or a zone's
               ingress or egress proxy (scopes "ingress", "egress"). Issued by the global control
               plane, or by a standalone zone.
  kds-certs    writes DIR/ca.crt, DIR/kds.crt and DIR/kds.key: a new CA and a KDS server certificate
               it signed for the names and addresses zones dial (--name, repeatable; default
               localhost and 127.0.0.1). Global takes --kds-tls-cert/--kds-tls-key, zones --kds-ca-file.

Flags:
      --zone ZONE           the zone the token is for (required)
      --scope SCOPE         zone, ingress or egress (required); repeat it or separate with commas
      --valid-for DURATION  how long the token is valid, such as 24h, 30d, 1y (default ${DEFAULT_ZONE_TOKEN_VALIDITY}, at most 10y)
      --dir DIR             kds-certs: where to write the files (required)
      --name NAME           kds-certs: a DNS name or IP address of global, repeatable
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

async function kdsCerts(parsed: Parsed, io: Io): Promise<number> {
  const dir = parsed.values.dir;
  if (dir === undefined) throw new UsageError('--dir is required: where to write ca.crt, kds.crt and kds.key');
  const names = (parsed.values.name ?? []).flatMap((n) => n.split(',')).map((n) => n.trim()).filter((n) => n !== '');
  const files = await writeKdsCertificates(dir, names.length > 0 ? names : ['localhost', '127.0.0.1']);
  io.out(`wrote ${files.ca}, ${files.cert} and ${files.key}\n`);
  return 0;
}

const GENERATORS: Readonly<Record<string, (parsed: Parsed, io: Io) => Promise<number>>> = {
  'zone-token': zoneToken,
  'kds-certs': kdsCerts,
};

export const generateCommand: Command = {
  summary: 'Generate zone tokens and KDS certificates',
  synopsis: 'meshfed generate zone-token --zone ZONE --scope SCOPE [--valid-for DURATION] [--cp URL]',
  help: HELP,
  async run(args, io) {
    const parsed = parseCommandArgs(args, OPTIONS);
    const kinds = Object.keys(GENERATORS).join(', ');
    if (parsed.positionals.length === 0) throw new UsageError(`missing what to generate: ${kinds}`);
    const [what = ''] = expectPositionals(parsed.positionals, ['WHAT']);
    const generate = Object.hasOwn(GENERATORS, what) ? GENERATORS[what] : undefined;
    if (!generate) throw new UsageError(`cannot generate "${what}"; can generate: ${kinds}`);
    return generate(parsed, io);
  },
};
