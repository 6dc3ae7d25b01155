import { z } from 'zod';
import { defineResource } from './descriptor.js';

export const SecretSpec = z
  .object({
    data: z.string().min(1, 'data must not be empty').base64('data must be base64'),
  })
  .strict();
export type SecretSpec = z.infer<typeof SecretSpec>;

export const SecretDescriptor = defineResource({
  kind: 'Secret', plural: 'secrets', singular: 'secret', scope: 'mesh', owner: 'global',
  kds: ['global-to-zone'], spec: SecretSpec,
});
