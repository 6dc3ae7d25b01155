import { durationSchema, durationToMs, meshNameSchema, resourceNameSchema, SubjectNameSchema, tagKeySchema, tagValueSchema } from '@meshfed/shared/resources';
import { expectPositionals, parseCommandArgs } from '../args.js';
import { clientFor } from '../client.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import type { Io } from '../io.js';
import { writeKdsCertificates } from '../kds-certs.js';
import { revokeHint } from './revoke.js';

/** The scopes of a zone token, as the control plane's POST /tokens/zone accepts them. */
export const ZONE_TOKEN_SCOPES = ['zone', 'ingress', 'egress'] as const;
export const DEFAULT_ZONE_TOKEN_VALIDITY = '720h';
/** Kuma sets none. A year: a forgotten or leaked token does not live forever, yet proxies are not re-tokened monthly. */
export const DEFAULT_DATAPLANE_TOKEN_VALIDITY = '8760h';
/** Kuma's default for user tokens is ten years; a day makes a leaked one short-lived, and admins mint more. */
export const DEFAULT_USER_TOKEN_VALIDITY = '24h';

const OPTIONS = {
  zone: { type: 'string' },
  scope: { type: 'string', multiple: true },
  mesh: { type: 'string' },
  tag: { type: 'string', multiple: true },
  group: { type: 'string', multiple: true },
  'valid-for': { type: 'string' },
  dir: { type: 'string' },
  name: { type: 'string', multiple: true },
} as const;

type Parsed = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>;

const HELP = `Generate a token signed by the control plane, or KDS certificates.

Usage:
  meshfed generate zone-token --zone ZONE --scope SCOPE [--scope SCOPE ...] [--valid-for DURATION] [flags]
  meshfed generate dataplane-token [--mesh MESH] --name NAME [--tag KEY=VALUE ...] [--valid-for DURATION] [flags]
  meshfed generate user-token --name NAME [--group GROUP ...] [--valid-for DURATION] [flags]
  meshfed generate kds-certs --dir DIR [--name NAME ...]

What:
  zone-token       authenticates a zone control plane to global over KDS (scope "zone"), or a zone's
                   ingress or egress proxy (scopes "ingress", "egress"). Issued by the global control
                   plane, or by a standalone zone.
  dataplane-token  authenticates one dataplane proxy (node id MESH.NAME) to its zone's xDS server.
                   Issued by the zone control plane the proxy connects to: point --cp at that zone.
  user-token       authenticates a user to this control plane's API (meshfed --token-file, or
                   "Authorization: Bearer"). Group mesh-system:admin may do everything; any other
                   user may read all but secrets, plus what AccessRoles bound to them grant.
  kds-certs        writes DIR/ca.crt, DIR/kds.crt and DIR/kds.key: a new CA and a KDS server certificate
                   it signed for the names and addresses zones dial (--name, repeatable; default
                   localhost and 127.0.0.1). Global takes --kds-tls-cert/--kds-tls-key, zones --kds-ca-file.

Flags:
      --zone ZONE           zone-token: the zone the token is for (required)
      --scope SCOPE         zone-token: zone, ingress or egress (required); repeat it or separate with commas
      --mesh MESH           dataplane-token: the mesh of the dataplane (default "default")
      --name NAME           dataplane-token: the name of the dataplane (required);
                            user-token: the user's name (required);
                            kds-certs: a DNS name or IP address of global, repeatable
      --group GROUP         user-token: a group of the user, such as mesh-system:admin; repeatable
      --tag KEY=VALUE       dataplane-token: a tag carried in the token, such as kuma.io/service=web;
                            repeat it or separate with commas
      --valid-for DURATION  how long the token is valid, such as 24h, 30d, 1y, at most 10y
                            (default ${DEFAULT_ZONE_TOKEN_VALIDITY} for a zone token, ${DEFAULT_DATAPLANE_TOKEN_VALIDITY} (one year) for a dataplane token,
                            ${DEFAULT_USER_TOKEN_VALIDITY} for a user token)
      --dir DIR             kds-certs: where to write the files (required)
      --cp URL              control plane API (default http://127.0.0.1:5681, or env MESHFED_CP)
      --ca-file, --skip-verify, --token, --token-file: HTTPS and authentication, see "meshfed --help"
  -h, --help                show this help

The token is printed on standard output, followed by a newline; its id, which "meshfed revoke" takes,
on standard error.

Examples:
  meshfed generate zone-token --zone zone-1 --scope zone --valid-for 720h --cp http://global:5681 > zone-1.token
  meshfed-zone --zone zone-1 --global-address grpcs://global:5685 --zone-token-file zone-1.token
  meshfed generate dataplane-token --mesh default --name web-1 --tag kuma.io/service=web --cp http://zone-1:5681 > web-1.token
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

/** `--tag a=b --tag c=d,e=f` → `{ a: 'b', c: 'd', e: 'f' }`, each checked; a key given twice with two values is a mistake. */
export function parseTags(values: readonly string[] | undefined): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const pair of (values ?? []).flatMap((v) => v.split(',')).map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--tag "${pair}" must be KEY=VALUE, such as kuma.io/service=web`);
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const k = tagKeySchema.safeParse(key);
    if (!k.success) throw new UsageError(`--tag "${pair}": ${k.error.issues[0]?.message ?? 'invalid key'}`);
    const v = tagValueSchema.safeParse(value);
    if (!v.success) throw new UsageError(`--tag "${pair}": ${v.error.issues[0]?.message ?? 'invalid value'}`);
    if (Object.hasOwn(tags, key) && tags[key] !== value) throw new UsageError(`--tag "${key}" is given twice, as "${tags[key]}" and "${value}"`);
    tags[key] = value;
  }
  return tags;
}

function validFor(parsed: Parsed, fallback: string): string {
  const value = parsed.values['valid-for'] ?? fallback;
  if (!durationSchema.safeParse(value).success || durationToMs(value) <= 0) {
    throw new UsageError(`--valid-for "${value}" must be a positive duration such as 24h, 30d or 1y`);
  }
  return value;
}

async function zoneToken(parsed: Parsed, io: Io): Promise<number> {
  const zone = parsed.values.zone;
  if (zone === undefined) throw new UsageError('--zone is required: the name of the zone the token is for');
  const name = resourceNameSchema.safeParse(zone);
  if (!name.success) throw new UsageError(`--zone "${zone}": ${name.error.issues[0]?.message ?? 'invalid name'}`);
  const scope = parseScopes(parsed.values.scope);
  const token = await clientFor(parsed, io).issueZoneToken({ zone, scope, validFor: validFor(parsed, DEFAULT_ZONE_TOKEN_VALIDITY) });
  io.out(`${token}\n`);
  // On standard error, so that `> zone-1.token` keeps the token alone in its file.
  io.err(revokeHint('zone-token', token));
  return 0;
}

async function dataplaneToken(parsed: Parsed, io: Io): Promise<number> {
  const mesh = parsed.values.mesh ?? 'default';
  const meshName = meshNameSchema.safeParse(mesh);
  if (!meshName.success) throw new UsageError(`--mesh "${mesh}": ${meshName.error.issues[0]?.message ?? 'invalid mesh name'}`);
  const names = parsed.values.name ?? [];
  if (names.length === 0) throw new UsageError('--name is required: the name of the dataplane the token is for');
  if (names.length > 1) throw new UsageError(`--name is given ${names.length} times: a dataplane token is for one dataplane`);
  const name = names[0]!;
  const dpName = resourceNameSchema.safeParse(name);
  if (!dpName.success) throw new UsageError(`--name "${name}": ${dpName.error.issues[0]?.message ?? 'invalid name'}`);
  const tags = parseTags(parsed.values.tag);
  const token = await clientFor(parsed, io).issueDataplaneToken({
    mesh, name, ...(Object.keys(tags).length > 0 ? { tags } : {}), validFor: validFor(parsed, DEFAULT_DATAPLANE_TOKEN_VALIDITY),
  });
  io.out(`${token}\n`);
  io.err(revokeHint('dataplane-token', token));
  return 0;
}

async function userToken(parsed: Parsed, io: Io): Promise<number> {
  const names = parsed.values.name ?? [];
  if (names.length === 0) throw new UsageError('--name is required: the name of the user the token is for');
  if (names.length > 1) throw new UsageError(`--name is given ${names.length} times: a user token is for one user`);
  const name = names[0]!;
  const user = SubjectNameSchema.safeParse(name);
  if (!user.success) throw new UsageError(`--name "${name}": ${user.error.issues[0]?.message ?? 'invalid name'}`);
  const groups = [...new Set((parsed.values.group ?? []).flatMap((g) => g.split(',')).map((g) => g.trim()).filter((g) => g !== ''))];
  for (const g of groups) {
    const ok = SubjectNameSchema.safeParse(g);
    if (!ok.success) throw new UsageError(`--group "${g}": ${ok.error.issues[0]?.message ?? 'invalid group'}`);
  }
  const token = await clientFor(parsed, io).issueUserToken({ name, groups, validFor: validFor(parsed, DEFAULT_USER_TOKEN_VALIDITY) });
  io.out(`${token}\n`);
  io.err(revokeHint('user-token', token));
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
  'dataplane-token': dataplaneToken,
  'user-token': userToken,
  'kds-certs': kdsCerts,
};

export const generateCommand: Command = {
  summary: 'Generate zone, dataplane and user tokens, and KDS certificates',
  synopsis: 'meshfed generate zone-token|dataplane-token|user-token|kds-certs [flags] (see --help)',
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
