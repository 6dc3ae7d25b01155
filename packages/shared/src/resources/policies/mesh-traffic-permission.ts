import { z } from 'zod';
import { definePolicy, peerEntries, policySpec, topTargetRef } from './target-ref.js';

const Conf = z.object({ action: z.enum(['Allow', 'Deny', 'AllowWithShadowDeny'], { error: 'action must be Allow, Deny or AllowWithShadowDeny' }) }).strict();

export const MeshTrafficPermissionSpec = policySpec({
  targetRef: topTargetRef(['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset']),
  from: peerEntries(['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset'], Conf).optional(),
});
export type MeshTrafficPermissionSpec = z.infer<typeof MeshTrafficPermissionSpec>;

export const MeshTrafficPermissionDescriptor = definePolicy('MeshTrafficPermission', MeshTrafficPermissionSpec);
