import { after } from 'node:test';

type Cleanup = () => Promise<unknown> | unknown;

/** A cleanup that hangs must not hold the file open: stops escalate to SIGKILL well within this. */
const CLEANUP_TIMEOUT_MS = 20_000;

/**
 * What a test file started or created, undone in reverse order after all its tests, whatever happened.
 * The helpers that start something (startCp, createTestDatabase, XdsTestClient) push it here in the
 * same step that starts it, before waiting for anything, so no test can fail between the two and leak it.
 *
 * One list per test file: node runs each file in a process of its own. The hook is added when this
 * module is first imported, at the file's top level; one added from inside a test would run when that
 * test ends, not after the file's last test.
 */
export const cleanups: Cleanup[] = [];

after(async () => {
  for (const c of cleanups.splice(0).reverse()) {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise((resolve) => (timer = setTimeout(resolve, CLEANUP_TIMEOUT_MS)));
    await Promise.race([Promise.resolve().then(c).catch(() => undefined), bound]);
    clearTimeout(timer);
  }
});

/**
 * Synchronous last resorts, for when this file's process ends before its after hooks have run: the
 * test runner SIGTERMs a file that overran its timeout, and then no hook runs at all. Each is a
 * synchronous SIGKILL (to a process, or a process group), so a daemon never outlives its file.
 */
const lastResorts = new Set<() => void>();
const runLastResorts = () => {
  for (const kill of lastResorts) {
    try {
      kill();
    } catch {
      /* gone already */
    }
  }
};
process.on('exit', runLastResorts);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    runLastResorts();
    // Once the listener is gone, the same signal ends this process the way it would have.
    process.kill(process.pid, signal);
  });
}

/** Registers `kill` as a last resort (see above); the function returned withdraws it, for when what it kills has exited. */
export function killOnExit(kill: () => void): () => void {
  lastResorts.add(kill);
  return () => void lastResorts.delete(kill);
}
