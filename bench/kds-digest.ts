import { createHash } from 'node:crypto';
import { canonicalJson } from '@meshfed/shared';

/** Order-independent digest of (name, spec) pairs: equal on global and a zone when they hold the same. */
export function digestOf(items: readonly { name: string; spec: unknown }[]): string {
  const h = createHash('sha256');
  for (const line of items.map((r) => `${r.name}\u0000${canonicalJson(r.spec)}`).sort()) h.update(line).update('\n');
  return h.digest('hex').slice(0, 16);
}
