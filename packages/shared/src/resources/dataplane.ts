import { z } from 'zod';
import { defineResource } from './descriptor.js';
import { addressSchema, portSchema, SERVICE_TAG, serviceTagsSchema } from './meta.js';

const Inbound = z
  .object({
    port: portSchema,
    servicePort: portSchema.optional(),
    serviceAddress: addressSchema.optional(),
    address: addressSchema.optional(),
    tags: serviceTagsSchema,
    health: z.object({ ready: z.boolean() }).strict().optional(),
    serviceProbe: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

const Outbound = z
  .object({
    port: portSchema,
    address: addressSchema.optional(),
    tags: serviceTagsSchema,
  })
  .strict();

const Gateway = z
  .object({
    type: z.enum(['BUILTIN', 'DELEGATED'], { error: 'gateway type must be BUILTIN or DELEGATED' }).default('DELEGATED'),
    tags: serviceTagsSchema,
  })
  .strict();

/** A service name no Dataplane may take (see the zone's xDS generators). */
export const RESERVED_SERVICE = 'zone-egress';

export const DataplaneSpec = z
  .object({
    networking: z
      .object({
        address: addressSchema,
        advertisedAddress: addressSchema.optional(),
        inbound: z.array(Inbound).optional(),
        outbound: z.array(Outbound).optional(),
        gateway: Gateway.optional(),
        admin: z.object({ port: portSchema }).strict().optional(),
        transparentProxying: z.record(z.string(), z.unknown()).optional(),
        /**
         * A proxyless gRPC app (grpc-js-xds, beside `meshfed-dp run --proxyless`) instead of Envoy: its
         * clients dial `xds:///<service>`, its servers are XdsServers on the inbound ports themselves.
         */
        proxyless: z.boolean().optional(),
      })
      .strict()
      .superRefine((n, ctx) => {
        const inbound = n.inbound ?? [];
        const outbound = n.outbound ?? [];
        if (n.gateway) {
          // gateway.md: a builtin gateway has neither inbound nor outbound configuration; a
          // delegated one skips inbounds so that outside traffic reaches the gateway directly.
          if (inbound.length > 0) ctx.addIssue({ code: 'custom', path: ['inbound'], message: 'a gateway dataplane cannot have inbounds' });
          if (n.gateway.type === 'BUILTIN' && outbound.length > 0) {
            ctx.addIssue({ code: 'custom', path: ['outbound'], message: 'a BUILTIN gateway dataplane cannot have outbounds' });
          }
        } else if (inbound.length === 0) {
          ctx.addIssue({ code: 'custom', path: ['inbound'], message: 'a dataplane needs at least one inbound, or a gateway' });
        }
        if (n.proxyless) {
          // Nothing stands between a proxyless app and the network: what Envoy would translate has no one to do it.
          if (n.gateway) ctx.addIssue({ code: 'custom', path: ['proxyless'], message: 'a gateway cannot be proxyless: gateways are Envoy proxies' });
          if (outbound.length > 0) ctx.addIssue({ code: 'custom', path: ['outbound'], message: 'a proxyless dataplane has no outbounds: its app dials xds:///<service> for every service of the mesh' });
          inbound.forEach((ib, i) => {
            if (ib.servicePort !== undefined && ib.servicePort !== ib.port) {
              ctx.addIssue({ code: 'custom', path: ['inbound', i, 'servicePort'], message: `a proxyless app serves on the inbound port itself (${ib.port}): leave servicePort out` });
            }
          });
        }
        const seenIn = new Map<string, number>();
        inbound.forEach((ib, i) => {
          // Zone egresses are issued `spiffe://<mesh>/zone-egress`; a workload with that name would be trusted as one.
          if (ib.tags[SERVICE_TAG] === RESERVED_SERVICE) {
            ctx.addIssue({ code: 'custom', path: ['inbound', i, 'tags', SERVICE_TAG], message: `"${RESERVED_SERVICE}" is reserved for the identity of zone egresses` });
          }
          const key = `${ib.address ?? n.address}:${ib.port}`;
          const prev = seenIn.get(key);
          if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['inbound', i, 'port'], message: `conflicts with inbound[${prev}]: both listen on ${key}` });
          seenIn.set(key, i);
        });
        const seenOut = new Map<string, number>();
        outbound.forEach((ob, i) => {
          const key = `${ob.address ?? '127.0.0.1'}:${ob.port}`;
          const prev = seenOut.get(key);
          if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['outbound', i, 'port'], message: `conflicts with outbound[${prev}]: both listen on ${key}` });
          seenOut.set(key, i);
        });
      }),
  })
  .strict();
export type DataplaneSpec = z.infer<typeof DataplaneSpec>;

export const DataplaneDescriptor = defineResource({
  kind: 'Dataplane', plural: 'dataplanes', singular: 'dataplane', scope: 'mesh', owner: 'zone',
  kds: ['zone-to-global'], spec: DataplaneSpec, aliases: ['dp', 'dps'],
});
