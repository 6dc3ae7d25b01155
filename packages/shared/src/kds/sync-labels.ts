import { createHash } from 'node:crypto';
import { MAX_NAME_LENGTH } from '../resources/meta.js';

export const LABEL_ORIGIN = 'kuma.io/origin';
export const LABEL_ZONE = 'kuma.io/zone';
export const LABEL_DISPLAY_NAME = 'kuma.io/display-name';

/**
 * Labels the receiving side of a sync sets for itself. They are left out of content hashes, so both
 * sides compute the same version for a resource however each has labelled its copy.
 */
export const SYNC_LABELS: ReadonlySet<string> = new Set([LABEL_ORIGIN, LABEL_ZONE, LABEL_DISPLAY_NAME]);

/**
 * The name global gives a resource that came up from a zone: readable, and collision-free across
 * zones and meshes because the hash covers all three parts (zone and resource names may contain
 * dots, so joining them alone could collide). Stays within the length a name may have.
 */
export function zoneResourceName(zone: string, mesh: string | undefined, name: string): string {
  const hash = createHash('sha256').update(`${zone}\u0000${mesh ?? ''}\u0000${name}`).digest('hex').slice(0, 10);
  const suffix = `.${hash}`;
  const base = `${name}.${zone}`;
  return `${base.slice(0, MAX_NAME_LENGTH - suffix.length)}${suffix}`;
}
