import { z } from 'zod';
import { defineResource } from './descriptor.js';
import { addressSchema, meshNameSchema, portSchema, resourceNameSchema, serviceTagsSchema } from './meta.js';

const AvailableService = z
  .object({
    tags: serviceTagsSchema,
    instances: z.number().int().min(0, 'instances cannot be negative'),
    mesh: meshNameSchema,
    externalService: z.boolean().optional(),
  })
  .strict();

export const ZoneIngressSpec = z
  .object({
    zone: resourceNameSchema.optional(),
    networking: z
      .object({
        address: addressSchema.optional(),
        advertisedAddress: addressSchema.optional(),
        port: portSchema,
        advertisedPort: portSchema.optional(),
        admin: z.object({ port: portSchema }).strict().optional(),
      })
      .strict()
      .superRefine((n, ctx) => {
        // Other zones reach the ingress only through the advertised pair; half of it is useless.
        if ((n.advertisedAddress === undefined) !== (n.advertisedPort === undefined)) {
          const missing = n.advertisedAddress === undefined ? 'advertisedAddress' : 'advertisedPort';
          ctx.addIssue({ code: 'custom', path: [missing], message: 'advertisedAddress and advertisedPort must be set together' });
        }
      }),
    availableServices: z.array(AvailableService).optional(),
  })
  .strict();
export type ZoneIngressSpec = z.infer<typeof ZoneIngressSpec>;

export const ZoneIngressDescriptor = defineResource({
  kind: 'ZoneIngress', plural: 'zoneingresses', singular: 'zoneingress', scope: 'global', owner: 'zone',
  kds: ['zone-to-global', 'global-to-zone'], spec: ZoneIngressSpec, aliases: ['zone-ingress', 'zone-ingresses'],
});
