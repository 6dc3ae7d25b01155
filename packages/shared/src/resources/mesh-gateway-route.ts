import { z } from 'zod';
import { defineResource } from './descriptor.js';
import { serviceTagsSchema } from './meta.js';
import { re2Problem } from './policies/fields.js';
import { gatewayHostnameSchema, selectorsSchema } from './mesh-gateway.js';

const Backend = z
  .object({
    weight: z.number().int().min(0, 'weight cannot be negative').optional(),
    destination: serviceTagsSchema,
  })
  .strict();

const PathMatch = z
  .object({
    match: z.enum(['EXACT', 'PREFIX', 'REGEX'], { error: 'path match must be EXACT, PREFIX or REGEX' }),
    value: z.string().min(1, 'path value must not be empty'),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.match !== 'REGEX' && !p.value.startsWith('/')) ctx.addIssue({ code: 'custom', path: ['value'], message: 'path must start with "/"' });
    // Envoy matches a prefix by whole path segments (path_separated_prefix), which may not end in '/'.
    if (p.match === 'PREFIX' && p.value !== '/' && p.value.endsWith('/')) ctx.addIssue({ code: 'custom', path: ['value'], message: 'a PREFIX path must not end with "/" (it matches whole segments: "/api" matches /api and /api/x)' });
    if (p.match === 'REGEX') {
      const problem = re2Problem(p.value);
      if (problem) ctx.addIssue({ code: 'custom', path: ['value'], message: problem });
    }
  });

const HeaderMatch = z
  .object({
    match: z.enum(['EXACT', 'REGEX', 'ABSENT', 'PRESENT']).default('EXACT'),
    name: z.string().min(1, 'header name must not be empty'),
    value: z.string().optional(),
  })
  .strict()
  .superRefine((h, ctx) => {
    if ((h.match === 'EXACT' || h.match === 'REGEX') && h.value === undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `value is required for ${h.match} header matches` });
    }
    const problem = h.match === 'REGEX' && h.value !== undefined ? re2Problem(h.value) : undefined;
    if (problem) ctx.addIssue({ code: 'custom', path: ['value'], message: problem });
  });

const HttpMatch = z
  .object({
    path: PathMatch.optional(),
    method: z.enum(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE']).optional(),
    headers: z.array(HeaderMatch).optional(),
    queryParameters: z.array(
      z.object({ match: z.enum(['EXACT', 'REGEX']).default('EXACT'), name: z.string().min(1), value: z.string() }).strict().superRefine((q, ctx) => {
        const problem = q.match === 'REGEX' ? re2Problem(q.value) : undefined;
        if (problem) ctx.addIssue({ code: 'custom', path: ['value'], message: problem });
      }),
    ).optional(),
  })
  .strict();

const HeaderList = z.array(z.object({ name: z.string().min(1), value: z.string() }).strict());
const Filter = z
  .object({
    requestHeader: z.object({ set: HeaderList.optional(), add: HeaderList.optional(), remove: z.array(z.string()).optional() }).strict().optional(),
    responseHeader: z.object({ set: HeaderList.optional(), add: HeaderList.optional(), remove: z.array(z.string()).optional() }).strict().optional(),
    mirror: z.object({ backend: Backend, percentage: z.number().min(0).max(100).optional() }).strict().optional(),
    redirect: z
      .object({
        scheme: z.enum(['http', 'https']),
        hostname: z.string().min(1),
        port: z.number().int().min(1).max(65535).optional(),
        statusCode: z.union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)]).optional(),
      })
      .strict()
      .optional(),
    rewrite: z.object({ replaceFull: z.string().optional(), replacePrefixMatch: z.string().optional(), hostToBackendHostname: z.boolean().optional() }).strict().optional(),
  })
  .strict()
  .refine((f) => Object.values(f).filter((v) => v !== undefined).length === 1, 'each filter sets exactly one of requestHeader, responseHeader, mirror, redirect, rewrite');

const HttpRule = z
  .object({
    matches: z.array(HttpMatch).min(1, 'at least one match is required'),
    filters: z.array(Filter).optional(),
    backends: z.array(Backend).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const redirects = (r.filters ?? []).some((f) => f.redirect);
    if (!redirects && (r.backends ?? []).length === 0) ctx.addIssue({ code: 'custom', path: ['backends'], message: 'at least one backend is required unless the rule redirects' });
  });

// gateway.md: "The TCP configuration only supports the backends key (no matches or filters)".
const TcpRule = z.strictObject(
  { backends: z.array(Backend).min(1, 'at least one backend is required') },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `TCP rules take only backends (no ${iss.keys.join(', ')})` : undefined) },
);

export const MeshGatewayRouteSpec = z
  .object({
    selectors: selectorsSchema,
    conf: z
      .object({
        http: z.object({ hostnames: z.array(gatewayHostnameSchema).optional(), rules: z.array(HttpRule).min(1, 'at least one rule is required') }).strict().optional(),
        tcp: z.object({ rules: z.array(TcpRule).min(1, 'at least one rule is required') }).strict().optional(),
      })
      .strict()
      .superRefine((c, ctx) => {
        if ((c.http === undefined) === (c.tcp === undefined)) ctx.addIssue({ code: 'custom', path: [], message: 'exactly one of http or tcp must be set' });
      }),
  })
  .strict();
export type MeshGatewayRouteSpec = z.infer<typeof MeshGatewayRouteSpec>;

export const MeshGatewayRouteDescriptor = defineResource({
  kind: 'MeshGatewayRoute', plural: 'meshgatewayroutes', singular: 'meshgatewayroute', scope: 'mesh', owner: 'global',
  kds: ['global-to-zone'], spec: MeshGatewayRouteSpec, aliases: ['gatewayroute', 'gatewayroutes', 'mesh-gateway-route', 'mesh-gateway-routes'],
});
