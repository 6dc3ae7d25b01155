import { z } from 'zod';
import { defineResource } from './descriptor.js';
import { isIpOrHostname, serviceTagsSchema } from './meta.js';

/** A secret reference or an inline value, as Kuma's DataSource. */
const DataSource = z.union([
  z.object({ secret: z.string().min(1) }).strict(),
  z.object({ inline: z.string().min(1) }).strict(),
  z.object({ inlineString: z.string().min(1) }).strict(),
]);

export const ExternalServiceSpec = z
  .object({
    tags: serviceTagsSchema,
    networking: z
      .object({
        address: z
          .string()
          .refine((a) => {
            const i = a.lastIndexOf(':');
            if (i <= 0) return false;
            const port = Number(a.slice(i + 1));
            const host = a.slice(0, i).replace(/^\[|\]$/g, '');
            return Number.isInteger(port) && port >= 1 && port <= 65535 && isIpOrHostname(host);
          }, 'must be host:port, e.g. httpbin.org:443'),
        tls: z
          .object({
            enabled: z.boolean().optional(),
            allowRenegotiation: z.boolean().optional(),
            serverName: z.string().optional(),
            caCert: DataSource.optional(),
            clientCert: DataSource.optional(),
            clientKey: DataSource.optional(),
            verification: z
              .object({
                mode: z.enum(['Secured', 'SkipSAN', 'SkipCA', 'SkipAll']).optional(),
                serverName: z.string().optional(),
                subjectAltNames: z.array(z.object({ type: z.enum(['Exact', 'Prefix']).optional(), value: z.string() }).strict()).optional(),
              })
              .strict()
              .optional(),
          })
          .strict()
          .superRefine((t, ctx) => {
            if ((t.clientCert === undefined) !== (t.clientKey === undefined)) {
              ctx.addIssue({ code: 'custom', path: [t.clientCert ? 'clientKey' : 'clientCert'], message: 'clientCert and clientKey must be set together' });
            }
          })
          .optional(),
        disableHostDNSEntry: z.boolean().optional(),
      })
      .strict(),
  })
  .strict();
export type ExternalServiceSpec = z.infer<typeof ExternalServiceSpec>;

export const ExternalServiceDescriptor = defineResource({
  kind: 'ExternalService', plural: 'external-services', singular: 'external-service', scope: 'mesh', owner: 'global',
  kds: ['global-to-zone'], spec: ExternalServiceSpec, aliases: ['externalservice', 'externalservices'],
});
