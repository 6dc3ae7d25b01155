import { z } from 'zod';
import { defineResource } from './descriptor.js';
import { addressSchema, portSchema, resourceNameSchema } from './meta.js';

export const ZoneEgressSpec = z
  .object({
    zone: resourceNameSchema.optional(),
    networking: z
      .object({
        address: addressSchema,
        port: portSchema,
        admin: z.object({ port: portSchema }).strict().optional(),
      })
      .strict(),
  })
  .strict();
export type ZoneEgressSpec = z.infer<typeof ZoneEgressSpec>;

export const ZoneEgressDescriptor = defineResource({
  kind: 'ZoneEgress', plural: 'zoneegresses', singular: 'zoneegress', scope: 'global', owner: 'zone',
  kds: ['zone-to-global'], spec: ZoneEgressSpec, aliases: ['zone-egress', 'zone-egresses'],
});
