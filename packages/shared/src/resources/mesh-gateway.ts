import { z } from 'zod';
import { defineResource } from './descriptor.js';
import { portSchema, tagsSchema } from './meta.js';

const Selector = z.object({ match: tagsSchema.refine((t) => Object.keys(t).length > 0, 'match must not be empty') }).strict();
export const selectorsSchema = z.array(Selector).min(1, 'at least one selector is required');

const WILDCARD_HOSTNAME = /^(\*|(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*)$/;
export const gatewayHostnameSchema = z.string().regex(WILDCARD_HOSTNAME, 'must be a hostname, optionally starting with "*."');

const CertificateRef = z.union([
  z.object({ secret: z.string().min(1) }).strict(),
  z.object({ inline: z.string().min(1) }).strict(),
  z.object({ inlineString: z.string().min(1) }).strict(),
]);

const Listener = z
  .object({
    port: portSchema,
    protocol: z.enum(['HTTP', 'HTTPS', 'TCP', 'TLS'], { error: 'protocol must be one of HTTP, HTTPS, TCP, TLS' }),
    hostname: gatewayHostnameSchema.optional(),
    tags: tagsSchema.optional(),
    crossMesh: z.boolean().optional(),
    tls: z
      .object({
        mode: z.enum(['TERMINATE', 'PASSTHROUGH']).default('TERMINATE'),
        certificates: z.array(CertificateRef).optional(),
        options: z.record(z.string(), z.unknown()).optional(),
      })
      .strict()
      .optional(),
    resources: z.object({ connectionLimit: z.number().int().positive() }).strict().optional(),
  })
  .strict()
  .superRefine((l, ctx) => {
    if (l.crossMesh && l.protocol !== 'HTTP') {
      ctx.addIssue({ code: 'custom', path: ['protocol'], message: 'a crossMesh listener supports only protocol HTTP' });
    }
    if (l.protocol === 'HTTPS' && l.tls?.mode !== 'PASSTHROUGH' && (l.tls?.certificates ?? []).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['tls', 'certificates'], message: 'an HTTPS listener needs at least one certificate' });
    }
    if ((l.protocol === 'HTTP' || l.protocol === 'TCP') && l.tls !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: `tls cannot be set on a ${l.protocol} listener` });
    }
  });

export const MeshGatewaySpec = z
  .object({
    selectors: selectorsSchema,
    tags: tagsSchema.optional(),
    conf: z
      .object({ listeners: z.array(Listener).min(1, 'at least one listener is required') })
      .strict()
      .superRefine((c, ctx) => {
        const protocolByPort = new Map<number, { protocol: string; index: number }>();
        const seen = new Set<string>();
        c.listeners.forEach((l, i) => {
          const prev = protocolByPort.get(l.port);
          if (prev && prev.protocol !== l.protocol) {
            ctx.addIssue({ code: 'custom', path: ['listeners', i, 'protocol'], message: `port ${l.port} is already used by listeners[${prev.index}] with protocol ${prev.protocol}` });
          }
          if (!prev) protocolByPort.set(l.port, { protocol: l.protocol, index: i });
          const key = `${l.port}/${l.hostname ?? '*'}`;
          if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'hostname'], message: `duplicate listener for port ${l.port} and hostname ${l.hostname ?? '*'}` });
          seen.add(key);
        });
      }),
  })
  .strict()
  .superRefine((g, ctx) => {
    // gateway.md: "There can be only one entry in selectors for a MeshGateway with crossMesh: true."
    if (g.conf.listeners.some((l) => l.crossMesh) && g.selectors.length !== 1) {
      ctx.addIssue({ code: 'custom', path: ['selectors'], message: 'a MeshGateway with a crossMesh listener must have exactly one selector' });
    }
  });
export type MeshGatewaySpec = z.infer<typeof MeshGatewaySpec>;

export const MeshGatewayDescriptor = defineResource({
  kind: 'MeshGateway', plural: 'meshgateways', singular: 'meshgateway', scope: 'mesh', owner: 'global',
  kds: ['global-to-zone'], spec: MeshGatewaySpec, aliases: ['gateway', 'gateways', 'mesh-gateway', 'mesh-gateways'],
});
