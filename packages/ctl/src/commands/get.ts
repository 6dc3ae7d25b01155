import type { AnyDescriptor } from '@meshfed/shared/resources';
import { expectPositionals, parseCommandArgs } from '../args.js';
import { clientFor } from '../client.js';
import type { Command } from '../command.js';
import { ApiResponseError, UsageError } from '../errors.js';
import { formatList, formatOne, OUTPUT_FORMATS, parseOutputFormat } from '../output.js';
import { resolveType, validTypeNames } from '../resource-types.js';
import type { WireResource } from '../wire.js';

const OPTIONS = {
  mesh: { type: 'string' },
  'all-meshes': { type: 'boolean', short: 'A' },
  output: { type: 'string', short: 'o' },
} as const;

const HELP = `Show resources: a list, or one by name.

Usage:
  meshfed get TYPE [flags]          list
  meshfed get TYPE NAME [flags]     one resource

TYPE is a type's plural, singular, kind or alias: meshes, mesh, dataplanes, dp, meshgateways,
MeshTrafficPermission, external-services, …
Valid types: ${validTypeNames().join(', ')}

On the global CP the table of zones shows each one's STATUS (Online/Offline), when it last
connected and its zone CP's version; -o yaml and -o json print the Zone resources as stored, as
for every type (their insights: "meshfed inspect zones -o yaml"). With nothing to list, -o yaml
prints [] and -o json a list with no items.

Flags:
      --mesh MESH        mesh of a mesh-scoped type (default "default")
  -A, --all-meshes       list a mesh-scoped type across all meshes
  -o, --output FORMAT    ${OUTPUT_FORMATS.join(', ')} (default table)
      --cp URL           control plane API (default http://127.0.0.1:5681, or env MESHFED_CP)
      --ca-file, --skip-verify, --token, --token-file: HTTPS and authentication, see "meshfed --help"
  -h, --help             show this help

Examples:
  meshfed get meshes
  meshfed get dataplanes --mesh demo -o yaml
  meshfed get dp -A
  meshfed get mesh default -o json
  meshfed get zones
`;

/** Which mesh a get or delete addresses: undefined for global-scoped types and for --all-meshes. */
export function meshFor(d: AnyDescriptor, mesh: string | undefined, allMeshes = false): string | undefined {
  if (d.scope === 'global') {
    if (mesh !== undefined) throw new UsageError(`${d.kind} is not mesh-scoped: --mesh does not apply`);
    return undefined;
  }
  if (allMeshes) {
    if (mesh !== undefined) throw new UsageError('use either --mesh or --all-meshes, not both');
    return undefined;
  }
  return mesh ?? 'default';
}

/**
 * What a table of zones shows: the zones joined with their insights where the control plane has
 * them (global), else the plain resources. Only tables: -o yaml|json print Zones as stored.
 */
async function zonesForTable<T extends WireResource | WireResource[]>(withInsights: () => Promise<NoInfer<T>>, plain: () => Promise<T>): Promise<T> {
  try {
    return await withInsights();
  } catch (err) {
    // A zone CP answers 400 (insights are global's), an older CP 404, and so does global for a zone
    // it lacks: the plain request then answers the zones, or the right error.
    if (!(err instanceof ApiResponseError && (err.status === 400 || err.status === 404))) throw err;
    return plain();
  }
}

export const getCommand: Command = {
  summary: 'Show resources',
  synopsis: 'meshfed get TYPE [NAME] [--mesh MESH | -A] [-o table|yaml|json] [--cp URL]',
  help: HELP,
  async run(args, io) {
    const parsed = parseCommandArgs(args, OPTIONS);
    if (parsed.positionals.length === 0) throw new UsageError(`missing TYPE; valid types: ${validTypeNames().join(', ')}`);
    const [typeName = '', name] = expectPositionals(parsed.positionals, ['TYPE'], ['NAME']);
    const format = parseOutputFormat(parsed.values.output);
    const d = resolveType(typeName);
    const all = parsed.values['all-meshes'] === true;
    if (all && name !== undefined) throw new UsageError('--all-meshes lists resources; it cannot be used with a NAME');
    const mesh = meshFor(d, parsed.values.mesh, all);
    const client = clientFor(parsed, io);

    const zoneTable = d.kind === 'Zone' && format === 'table';
    if (name !== undefined) {
      const item = zoneTable ? await zonesForTable(() => client.getZoneInsight(name), () => client.get(d, name)) : await client.get(d, name, mesh);
      io.out(formatOne(d, item, format, io.now()));
      return 0;
    }
    const items = zoneTable ? await zonesForTable(() => client.listZoneInsights(), () => client.list(d)) : await client.list(d, mesh);
    if (items.length === 0 && format === 'table') {
      io.err(mesh !== undefined ? `No ${d.plural} found in mesh "${mesh}".\n` : `No ${d.plural} found.\n`);
      return 0;
    }
    io.out(formatList(d, items, format, io.now()));
    return 0;
  },
};
