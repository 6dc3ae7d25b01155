#!/usr/bin/env node
import { flagsHelp, parseFlags, runDaemon } from '@meshfed/shared';
import { ZONE_SUMMARY, ZoneFlags } from './flags.js';
import { startZone } from './zone-cp.js';

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(flagsHelp('meshfed-zone', ZONE_SUMMARY, ZoneFlags));
  process.exit(0);
}
runDaemon('meshfed-zone', async () => {
  const cp = await startZone(parseFlags(ZoneFlags, argv));
  return () => cp.stop();
});
