import { z } from 'zod';
import { defineResource } from './descriptor.js';

export const ZoneSpec = z.object({ enabled: z.boolean().optional() }).strict();
export type ZoneSpec = z.infer<typeof ZoneSpec>;

export const ZoneDescriptor = defineResource({
  kind: 'Zone', plural: 'zones', singular: 'zone', scope: 'global', owner: 'global', kds: [], spec: ZoneSpec,
});
