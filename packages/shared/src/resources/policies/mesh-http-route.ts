import { z } from 'zod';
import { portSchema } from '../meta.js';
import { canonicalJson } from '../../kds/envelope.js';
import { headerMatch, headerModifier, oneOf, percentage, re2Problem, someWeight } from './fields.js';
import { backendRefSchema, definePolicy, policySpec, restrictKinds, targetRefSchema, topTargetRef } from './target-ref.js';

const PathMatch = z
  .object({ type: oneOf(['Exact', 'PathPrefix', 'RegularExpression']), value: z.string().min(1, 'must not be empty') })
  .strict()
  .superRefine((p, ctx) => {
    if (p.type === 'RegularExpression') {
      const problem = re2Problem(p.value);
      if (problem) ctx.addIssue({ code: 'custom', path: ['value'], message: problem });
      return;
    }
    if (!p.value.startsWith('/')) ctx.addIssue({ code: 'custom', path: ['value'], message: `must be an absolute path starting with "/" for type ${p.type}` });
    else if (/[?#]/.test(p.value)) ctx.addIssue({ code: 'custom', path: ['value'], message: 'must be a path only, without "?" or "#"' });
    // A prefix only matches whole segments, so "/api/" would never match "/api".
    else if (p.type === 'PathPrefix' && p.value !== '/' && p.value.endsWith('/')) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'must not end with "/": a prefix matches whole path segments' });
    }
  });

const Match = z
  .object({
    path: PathMatch.optional(),
    method: oneOf(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE']).optional(),
    queryParams: z
      .array(
        z
          .object({ type: oneOf(['Exact', 'RegularExpression']), name: z.string().min(1, 'must not be empty'), value: z.string() })
          .strict()
          .superRefine((q, ctx) => {
            const problem = q.type === 'RegularExpression' ? re2Problem(q.value) : undefined;
            if (problem) ctx.addIssue({ code: 'custom', path: ['value'], message: problem });
          }),
      )
      .superRefine((qs, ctx) => {
        const seen = new Set<string>();
        qs.forEach((q, i) => {
          if (seen.has(q.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate query parameter "${q.name}"` });
          seen.add(q.name);
        });
      })
      .optional(),
    headers: z.array(headerMatch).optional(),
  })
  .strict();

// Gateway API's PreciseHostname: a DNS name, never an IP or a wildcard.
const preciseHostname = z
  .string()
  .max(253, 'must be at most 253 characters')
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a lower-case DNS name')
  .refine((h) => !/^\d+(\.\d+){3}$/.test(h), 'cannot be an IP address');

const PathRewrite = z
  .object({ type: oneOf(['ReplaceFullPath', 'ReplacePrefixMatch']), replaceFullPath: z.string().optional(), replacePrefixMatch: z.string().optional() })
  .strict()
  .superRefine((p, ctx) => {
    const own = p.type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
    const other = own === 'replaceFullPath' ? 'replacePrefixMatch' : 'replaceFullPath';
    if (p[own] === undefined) ctx.addIssue({ code: 'custom', path: [own], message: `is required for type ${p.type}` });
    if (p[other] !== undefined) ctx.addIssue({ code: 'custom', path: [other], message: `cannot be set for type ${p.type}` });
  });

const FILTER_TYPES = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror'] as const;
const FILTER_FIELD = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  RequestMirror: 'requestMirror',
} as const;

const Filter = z
  .object({
    type: oneOf(FILTER_TYPES),
    requestHeaderModifier: headerModifier(true).optional(),
    responseHeaderModifier: headerModifier(true).optional(),
    requestRedirect: z
      .object({
        scheme: oneOf(['http', 'https']).optional(),
        hostname: preciseHostname.optional(),
        path: PathRewrite.optional(),
        port: portSchema.optional(),
        statusCode: z.union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)], { error: 'must be one of 301, 302, 303, 307, 308' }).optional(),
      })
      .strict()
      .optional(),
    urlRewrite: z
      .object({ hostname: preciseHostname.optional(), path: PathRewrite.optional(), hostToBackendHostname: z.boolean().optional() })
      .strict()
      .superRefine((u, ctx) => {
        if (u.hostToBackendHostname && u.hostname !== undefined) ctx.addIssue({ code: 'custom', path: ['hostToBackendHostname'], message: 'cannot be set together with hostname' });
      })
      .optional(),
    requestMirror: z.object({ percentage: percentage.optional(), backendRef: backendRefSchema(['MeshService', 'MeshServiceSubset']) }).strict().optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    // Each type reads its settings from its own field; anything else would be ignored.
    const own = FILTER_FIELD[f.type];
    if (f[own] === undefined) ctx.addIssue({ code: 'custom', path: [own], message: `is required for type ${f.type}` });
    for (const field of Object.values(FILTER_FIELD)) {
      if (field !== own && f[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `cannot be set for type ${f.type}` });
    }
  });

const Rule = z
  .object({
    matches: z.array(Match).min(1, 'must have at least one match'),
    default: z
      .object({ filters: z.array(Filter).optional(), backendRefs: z.array(backendRefSchema(['MeshService', 'MeshServiceSubset'])).optional() })
      .strict(),
  })
  .strict()
  .superRefine((r, ctx) => {
    someWeight(r.default.backendRefs, ctx, ['default', 'backendRefs']);
    // Two filters of one type would contradict each other (Envoy takes one rewrite; a second header
    // modifier would replace the first's removals); a redirect answers, so nothing is rewritten.
    const seenTypes = new Map<string, number>();
    r.default.filters?.forEach((f, i) => {
      const first = seenTypes.get(f.type);
      if (first !== undefined && f.type !== 'RequestMirror') ctx.addIssue({ code: 'custom', path: ['default', 'filters', i, 'type'], message: `${f.type} is already filters[${first}]: one filter of each type (RequestMirror may repeat)` });
      if (first === undefined) seenTypes.set(f.type, i);
    });
    const redirect = seenTypes.get('RequestRedirect');
    const rewrite = seenTypes.get('URLRewrite');
    if (redirect !== undefined && rewrite !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['default', 'filters', Math.max(redirect, rewrite), 'type'], message: 'RequestRedirect and URLRewrite cannot be combined: a redirected request is not forwarded' });
    }
    // Replacing "the matched prefix" needs every match to be a prefix match.
    if (r.matches.every((m) => m.path?.type === 'PathPrefix')) return;
    r.default.filters?.forEach((f, i) => {
      const field = f.type === 'RequestRedirect' ? 'requestRedirect' : f.type === 'URLRewrite' ? 'urlRewrite' : undefined;
      const path = field && f[field]?.path;
      if (path && path.type === 'ReplacePrefixMatch') {
        ctx.addIssue({ code: 'custom', path: ['default', 'filters', i, field, 'path', 'type'], message: 'ReplacePrefixMatch requires every match to be a PathPrefix match' });
      }
    });
  });

const To = z
  .object({
    targetRef: targetRefSchema(['Mesh', 'MeshService']),
    hostnames: z.array(z.string().min(1, 'must not be empty')).optional(),
    rules: z
      .array(Rule)
      .min(1, 'must have at least one rule')
      .superRefine((rules, ctx) => {
        // Rules with equal matches are one rule to the merge (Kuma merges them by their matches): within
        // one policy, two of them would contradict each other, and which wins would be an accident.
        const seen = new Map<string, number>();
        rules.forEach((r, i) => {
          const key = canonicalJson(r.matches);
          const first = seen.get(key);
          if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'matches'], message: `are the same as rules[${first}].matches: merge the two rules into one` });
          else seen.set(key, i);
        });
      }),
  })
  .strict();

export const MeshHTTPRouteSpec = policySpec(
  {
    targetRef: topTargetRef(['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset', 'MeshGateway']),
    to: z.array(To).optional(),
  },
  (spec, ctx) => {
    const gateway = spec.targetRef.kind === 'MeshGateway';
    // A sidecar route matches by destination service; a gateway route matches by hostname instead.
    restrictKinds(ctx, spec.to, 'to', gateway ? ['Mesh'] : ['MeshService'], `when the top-level targetRef is ${spec.targetRef.kind}`);
    spec.to?.forEach((to, i) => {
      if (!gateway && to.hostnames?.length) ctx.addIssue({ code: 'custom', path: ['to', i, 'hostnames'], message: 'can only be set when the top-level targetRef is MeshGateway' });
      to.rules.forEach((rule, j) => {
        const at = ['to', i, 'rules', j, 'default'];
        rule.default.filters?.forEach((f, k) => {
          if (!gateway && f.urlRewrite?.hostToBackendHostname) {
            ctx.addIssue({ code: 'custom', path: [...at, 'filters', k, 'urlRewrite', 'hostToBackendHostname'], message: 'can only be set when the top-level targetRef is MeshGateway' });
          }
        });
        // A gateway has no default destination: without backends the route can only redirect.
        const redirects = rule.default.filters?.some((f) => f.type === 'RequestRedirect');
        if (gateway && !rule.default.backendRefs?.length && !redirects) {
          ctx.addIssue({ code: 'custom', path: [...at, 'backendRefs'], message: 'must not be empty on a MeshGateway route without a RequestRedirect filter' });
        }
      });
    });
  },
);
export type MeshHTTPRouteSpec = z.infer<typeof MeshHTTPRouteSpec>;

export const MeshHTTPRouteDescriptor = definePolicy('MeshHTTPRoute', MeshHTTPRouteSpec);
