#!/usr/bin/env node
import { flagsHelp, parseFlags, runDaemon } from '@meshfed/shared';
import { GLOBAL_SUMMARY, GlobalFlags } from './flags.js';
import { startGlobal } from './global-cp.js';

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(flagsHelp('meshfed-global', GLOBAL_SUMMARY, GlobalFlags));
  process.exit(0);
}
runDaemon('meshfed-global', async () => {
  const cp = await startGlobal(parseFlags(GlobalFlags, argv));
  return () => cp.stop();
});
