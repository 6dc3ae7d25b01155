import type { ResourceDescriptor } from './descriptor.js';

/** How a control plane runs: the global CP, a zone federated to it, or a zone on its own. */
export type CpMode = 'global' | 'zone' | 'standalone';

/**
 * Why this control plane refuses API writes of a type, or undefined when it accepts them. Writes that
 * arrive over KDS do not pass through here: this guards what users apply.
 */
export function writeRefusal(mode: CpMode, d: Pick<ResourceDescriptor, 'kind' | 'owner'>): string | undefined {
  if (d.owner === 'system') return `${d.kind} is maintained by the control plane and cannot be written through the API`;
  if (mode === 'global' && d.owner === 'zone') {
    return `${d.kind} resources are owned by zones: apply it on the zone control plane, it reaches the global control plane over KDS`;
  }
  if (mode === 'zone' && d.owner === 'global') {
    return `${d.kind} resources must be applied on the global control plane: this zone is federated and receives them over KDS`;
  }
  return undefined;
}
