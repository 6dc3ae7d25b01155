import { after } from 'node:test';
import type { RunningCp } from './processes.js';

/**
 * What a test file started or created, undone in reverse order after its tests, whatever happened.
 * `track` registers a started control plane so it is stopped even when an assertion fails first.
 */
export function cleanupAfterAll() {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  });
  const track = (cp: RunningCp) => {
    cleanups.push(() => cp.stop());
    return cp;
  };
  return { cleanups, track };
}
