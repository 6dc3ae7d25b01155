import { z } from 'zod';
import { defineResource } from './descriptor.js';
import { isIpOrHostname, serviceTagsSchema } from './meta.js';

/** Base64 as Kuma's `inline` (protobuf bytes in JSON) takes it: standard or URL-safe, padding optional. */
const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2,3}={0,2})?$/;

const DATA_SOURCE_KINDS = ['secret', 'inline', 'inlineString'] as const;

/**
 * Kuma's DataSource, one of: `secret` (the name of a Secret of the ExternalService's mesh, its `data`
 * the bytes), `inline` (the bytes, base64) or `inlineString` (the text). Kuma's deprecated `file` (a
 * path on the control plane's disk) is refused by name: a resource must not read the CP's files.
 */
const DataSource = z
  .object({
    secret: z.string().min(1, 'secret must name a Secret of the mesh').optional(),
    inline: z.string().min(1, 'inline must not be empty').regex(BASE64, 'inline must be base64').optional(),
    inlineString: z.string().min(1, 'inlineString must not be empty').optional(),
    file: z.string().optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.file !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['file'], message: 'file data sources (a path on the control plane) are not supported: use secret, inline or inlineString' });
      return;
    }
    const given = DATA_SOURCE_KINDS.filter((k) => d[k] !== undefined);
    if (given.length === 0) ctx.addIssue({ code: 'custom', message: 'data source cannot be empty: give one of secret, inline, inlineString' });
    else if (given.length > 1) ctx.addIssue({ code: 'custom', message: `give one of secret, inline, inlineString, not ${given.join(' and ')}` });
  });
export type ExternalServiceDataSource = z.infer<typeof DataSource>;

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
        /** Kuma's ExternalService `networking.tls`, field for field. */
        tls: z
          .object({
            enabled: z.boolean().optional(),
            allowRenegotiation: z.boolean().optional(),
            // Sent as SNI (at most 255 bytes in Envoy) and checked against the certificate: a host name.
            serverName: z
              .string()
              .min(1, 'serverName cannot be empty')
              .max(253, 'serverName must be at most 253 characters')
              .refine((h) => h === '' || h.length > 253 || isIpOrHostname(h), 'serverName must be a host name')
              .optional(),
            skipHostnameVerification: z.boolean().optional(),
            caCert: DataSource.optional(),
            clientCert: DataSource.optional(),
            clientKey: DataSource.optional(),
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
