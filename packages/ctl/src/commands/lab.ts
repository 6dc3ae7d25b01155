import { resolve } from 'node:path';
import { expectPositionals, parseCommandArgs } from '../args.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { LAB_USAGE, runLab } from '../lab/lab-command.js';

const OPTIONS = {
  'port-offset': { type: 'string' },
  'log-dir': { type: 'string' },
} as const;

const HELP = `${LAB_USAGE}

Flags:
      --port-offset N   add N to every port, to run beside another lab (default 0)
      --log-dir DIR     where each process writes its log (default .lab/logs)
  -h, --help            show this help
`;

export const labCommand: Command = {
  summary: 'Run a local lab: one global CP and two zones',
  synopsis: 'meshfed lab [--port-offset N] [--log-dir DIR]',
  help: HELP,
  async run(args, io) {
    const parsed = parseCommandArgs(args, OPTIONS);
    expectPositionals(parsed.positionals, []);
    const offsetText = parsed.values['port-offset'] ?? '0';
    const portOffset = Number(offsetText);
    if (!Number.isInteger(portOffset) || portOffset < 0 || portOffset > 39_000) {
      throw new UsageError(`--port-offset must be a whole number from 0 to 39000 (the highest lab port is 25681 + offset), got "${offsetText}"`);
    }
    return runLab({ portOffset, logDir: resolve(parsed.values['log-dir'] ?? '.lab/logs'), out: (s) => io.out(`${s}\n`) });
  },
};
