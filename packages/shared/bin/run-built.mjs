// Plain JavaScript, not built: npm links the workspace bins at install time, before `npm run build` has
// made dist/, so each bin is a committed file that loads its build through this.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Runs a package's built entry point, or says in one line how to build it. */
export async function runBuilt(command, entry) {
  if (!existsSync(entry)) {
    process.stderr.write(`${command}: not built yet (${fileURLToPath(entry)} is missing): run \`npm run build\` in the repository\n`);
    process.exit(1);
  }
  await import(entry.href);
}
