import { expectPositionals, parseCommandArgs } from '../args.js';
import { clientFor } from '../client.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { resolveType, validTypeNames } from '../resource-types.js';
import { describeResource } from '../subject.js';
import { meshFor } from './get.js';

const OPTIONS = {
  mesh: { type: 'string' },
} as const;

const HELP = `Delete one resource.

Usage:
  meshfed delete TYPE NAME [flags]

TYPE is a type's plural, singular, kind or alias (see "meshfed get --help").

Flags:
      --mesh MESH   mesh of a mesh-scoped type (default "default")
      --cp URL      control plane API (default http://127.0.0.1:5681, or env MESHFED_CP)
      --ca-file, --skip-verify, --token, --token-file: HTTPS and authentication, see "meshfed --help"
  -h, --help        show this help

Example:
  meshfed delete dataplane dp-1 --mesh demo
`;

export const deleteCommand: Command = {
  summary: 'Delete a resource',
  synopsis: 'meshfed delete TYPE NAME [--mesh MESH] [--cp URL]',
  help: HELP,
  async run(args, io) {
    const parsed = parseCommandArgs(args, OPTIONS);
    if (parsed.positionals.length === 0) throw new UsageError(`missing TYPE and NAME; valid types: ${validTypeNames().join(', ')}`);
    const [typeName = '', name = ''] = expectPositionals(parsed.positionals, ['TYPE', 'NAME']);
    const d = resolveType(typeName);
    const mesh = meshFor(d, parsed.values.mesh);
    await clientFor(parsed, io).delete(d, name, mesh);
    io.out(`deleted ${describeResource(d.kind, name, mesh)}\n`);
    return 0;
  },
};
