import { resolve } from 'node:path';
import { expectPositionals, parseCommandArgs } from '../args.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { LAB_USAGE, runLab } from '../lab/lab-command.js';

const OPTIONS = {
  'port-offset': { type: 'string' },
  dir: { type: 'string' },
  'no-traffic': { type: 'boolean' },
} as const;

const HELP = `${LAB_USAGE}

Flags:
      --port-offset N   add N to every port, to run beside another lab (default 0)
      --dir DIR         where the lab keeps logs (DIR/logs), its CA, certificate and tokens (DIR/secrets), and
                        its traffic apps' Dataplanes, tokens, bootstraps and certificates (DIR/apps) (default .lab)
      --no-traffic      start no gRPC apps: the control planes and the registered demo only
  -h, --help            show this help
`;

export const labCommand: Command = {
  summary: 'Run a local lab: one global CP and two federated zones',
  synopsis: 'meshfed lab [--port-offset N] [--dir DIR] [--no-traffic]',
  help: HELP,
  async run(args, io) {
    const parsed = parseCommandArgs(args, OPTIONS);
    expectPositionals(parsed.positionals, []);
    const offsetText = parsed.values['port-offset'] ?? '0';
    const portOffset = Number(offsetText);
    // No upper bound here: runLab knows every port the offset shifts and refuses one pushed beyond 65535.
    if (!Number.isInteger(portOffset) || portOffset < 0) {
      throw new UsageError(`--port-offset must be a whole number, 0 or more, got "${offsetText}"`);
    }
    return runLab({
      portOffset, dir: resolve(parsed.values.dir ?? '.lab'), traffic: parsed.values['no-traffic'] !== true,
      // The lab runs in a terminal of its own (it handles its signals): asking stdout directly is in keeping.
      tty: process.stdout.isTTY === true, columns: () => process.stdout.columns,
      out: (s) => io.out(`${s}\n`),
    });
  },
};
