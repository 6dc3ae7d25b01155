#!/usr/bin/env node
import { runCli, type CommandTable } from './cli.js';
import { applyCommand } from './commands/apply.js';
import { deleteCommand } from './commands/delete.js';
import { generateCommand } from './commands/generate.js';
import { getCommand } from './commands/get.js';
import { inspectCommand } from './commands/inspect.js';
import { labCommand } from './commands/lab.js';
import { revokeCommand } from './commands/revoke.js';
import { signingKeysCommand } from './commands/signing-keys.js';
import { processIo } from './io.js';

/** Every `meshfed` verb. Add a command here and it appears in the usage. */
const COMMANDS: CommandTable = {
  apply: applyCommand,
  get: getCommand,
  delete: deleteCommand,
  inspect: inspectCommand,
  generate: generateCommand,
  revoke: revokeCommand,
  'signing-keys': signingKeysCommand,
  lab: labCommand,
};

// `meshfed get dp | head` closes the pipe early; that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

process.exitCode = await runCli(process.argv.slice(2), COMMANDS, processIo());
