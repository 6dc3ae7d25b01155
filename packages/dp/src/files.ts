import { randomBytes } from 'node:crypto';
import { chmod, rename, rm, writeFile } from 'node:fs/promises';

/**
 * Writes `content` so that a reader (grpc-js-xds's file watcher, Envoy) sees the old file or the new
 * one, never half of one: a temporary file beside it, then rename. `mode` is set before the rename,
 * so a key is never readable by others, not even for a moment.
 */
export async function writeAtomically(file: string, content: string, mode = 0o644): Promise<void> {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, content, { mode });
    await chmod(tmp, mode);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
