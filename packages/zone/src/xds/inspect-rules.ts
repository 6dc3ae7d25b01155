/**
 * What the inspect routes show of the matching step (`GET …/dataplanes/{name}/_rules`,
 * `GET …/{policy-plural}/{name}/_resources/dataplanes`): pure reads of one run's zone index and its
 * rules cache, no store, no clock.
 */
import { fieldPath, SERVICE_TAG } from '@meshfed/shared';
import { inboundRulesKey, type RulesCache } from './generate/matching.js';
import type { LocalDataplane, MeshIndex, ZoneIndex } from './generate/zone-index.js';
import { type AnyPolicy, type PolicyKind, POLICY_KINDS_LIST, type Rule, type Tag, type TypedRules } from './rules/index.js';

/** A lookup that says why it found nothing (the routes answer it in a 404). */
export type Lookup<T> = { readonly found: T } | { readonly missing: string };

/** One rule: a client (from) or destination (to) subset, its merged conf, the policies it came from. */
export interface RuleView {
  readonly subset: readonly Tag[];
  readonly conf: unknown;
  readonly origins: readonly string[];
}

/** One policy type's rules for a dataplane. */
export interface TypeRulesView {
  /** The policies selecting the dataplane, in merge order: least specific first, the winner last. */
  readonly policies: readonly string[];
  /** Per inbound `address:port` (the dataplane's own address where the inbound has none). */
  readonly from: Readonly<Record<string, readonly RuleView[]>>;
  readonly to: readonly RuleView[];
  /** The `to` conf of each service the dataplane has an outbound for. */
  readonly toByService: Readonly<Record<string, { readonly conf: unknown; readonly origins: readonly string[] }>>;
  readonly warnings: readonly string[];
}

/** The answer of `GET /meshes/{mesh}/dataplanes/{name}/_rules`. */
export interface DataplaneRulesView {
  readonly mesh: string;
  readonly dataplane: string;
  /** Per policy type that selects the dataplane, in the matching step's order of types. */
  readonly rules: Readonly<Partial<Record<PolicyKind, TypeRulesView>>>;
  readonly warnings: readonly string[];
}

/** The answer of `GET /meshes/{mesh}/{policy-plural}/{name}/_resources/dataplanes`. */
export interface PolicyDataplanesView {
  readonly policy: { readonly type: PolicyKind; readonly mesh: string; readonly name: string };
  readonly total: number;
  readonly items: readonly { readonly mesh: string; readonly name: string }[];
  /** Why the policy selects less than it seems to: invalid here, or naming a service no proxy offers. */
  readonly problems: readonly string[];
}

const LOADING = 'the zone control plane is still loading its resources';

const tagView = (t: Tag): Tag => ({ key: t.key, value: t.value, ...(t.not ? { not: true as const } : {}) });
const ruleView = (r: Rule<unknown>): RuleView => ({ subset: r.subset.map(tagView), conf: r.conf, origins: r.origins });

/** Rules name an inbound without its own address by a stand-in for the instance's (see matching.ts): shown with the real one. */
function inboundNamer(dp: LocalDataplane): (key: string) => string {
  const port0 = inboundRulesKey({ port: 0 });
  const viewPrefix = port0.slice(0, port0.length - 1);
  return (key) => (key.startsWith(viewPrefix) ? `${dp.spec.networking.address}:${key.slice(viewPrefix.length)}` : key);
}

function typeView(r: TypedRules<PolicyKind>, inbound: (key: string) => string): TypeRulesView {
  const from: Record<string, readonly RuleView[]> = {};
  for (const [key, rules] of Object.entries(r.from)) from[inbound(key)] = (rules as readonly Rule<unknown>[]).map(ruleView);
  const toByService: Record<string, { conf: unknown; origins: readonly string[] }> = {};
  for (const [service, c] of Object.entries(r.toByService)) toByService[service] = { conf: c.conf, origins: c.origins };
  return { policies: r.policies, from, to: (r.to as readonly Rule<unknown>[]).map(ruleView), toByService, warnings: r.warnings };
}

/** Why a mesh's policies are not matched here: it does not exist in this zone, or it is invalid. */
function meshMissing(index: ZoneIndex, mesh: string): string {
  const p = index.problems.find((x) => x.kind === 'Mesh' && x.name === mesh);
  return p ? `mesh "${mesh}" is skipped by this zone: ${p.message}` : `mesh "${mesh}" does not exist in this zone`;
}

/** A dataplane's rules per policy type, as the last run matched them. */
export function rulesOf(index: ZoneIndex | undefined, cache: RulesCache, mesh: string, name: string): Lookup<DataplaneRulesView> {
  if (!index) return { missing: LOADING };
  const byId = index.dataplanes.get(`${mesh}.${name}`);
  const dp = byId?.mesh === mesh && byId.name === name ? byId : undefined;
  if (!dp) {
    const p = index.problems.find((x) => x.kind === 'Dataplane' && x.mesh === mesh && x.name === name);
    if (p) return { missing: `it is skipped by this zone: ${p.message}` };
    if (!index.meshes.has(mesh)) return { missing: meshMissing(index, mesh) };
    return { missing: 'the xDS reconciler has not read it yet: try again in a moment' };
  }
  const matched = cache.get(index, dp);
  if (!matched) return { missing: meshMissing(index, mesh) };
  const inbound = inboundNamer(dp);
  const rules: Partial<Record<PolicyKind, TypeRulesView>> = {};
  for (const kind of POLICY_KINDS_LIST) {
    const r = matched.rules[kind] as TypedRules<PolicyKind> | undefined;
    // A type no policy selects is left out; its warnings (an unresolvable route, say) stay in `warnings`.
    if (r && r.policies.length > 0) rules[kind] = typeView(r, inbound);
  }
  return { found: { mesh, dataplane: name, rules, warnings: matched.warnings } };
}

/** Every service some proxy of the mesh offers, here or (through their ingresses) in other zones, or an external service. */
function offeredServices(index: ZoneIndex, mesh: MeshIndex): Set<string> {
  const offered = new Set<string>([...mesh.local.keys(), ...mesh.remote.keys(), ...mesh.external.keys()]);
  for (const dp of index.dataplanes.values()) {
    if (dp.mesh !== mesh.name) continue;
    // Unhealthy inbounds too: they are selected (and get their listener), they only serve no traffic now.
    for (const ib of dp.spec.networking.inbound ?? []) offered.add(ib.tags[SERVICE_TAG]!);
    const gw = dp.spec.networking.gateway?.tags[SERVICE_TAG];
    if (gw !== undefined) offered.add(gw);
  }
  return offered;
}

type Ref = { readonly kind: string; readonly name?: string | undefined };

/** "Can never match" problems: a top-level, `from[]` or `to[]` targetRef naming a service no proxy offers. */
function neverMatches(policy: AnyPolicy, offered: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const nobody = (ref: Ref) => (ref.kind === 'MeshService' || ref.kind === 'MeshServiceSubset') && ref.name !== undefined && !offered.has(ref.name);
  const offeredByNoProxy = (ref: Ref) => `${ref.kind} "${ref.name}" is offered by no proxy of mesh ${policy.mesh} (here or in other zones)`;
  const top = policy.spec.targetRef as Ref;
  if (nobody(top)) problems.push(`${fieldPath(['spec', 'targetRef', 'name'])}: ${offeredByNoProxy(top)}, so this policy selects nothing`);
  for (const side of ['from', 'to'] as const) {
    const entries = ((policy.spec as Record<string, unknown>)[side] ?? []) as readonly { readonly targetRef: Ref }[];
    entries.forEach((e, i) => {
      if (!nobody(e.targetRef)) return;
      const what = side === 'from' ? 'no client' : 'no traffic';
      problems.push(`${fieldPath(['spec', side, i, 'targetRef', 'name'])}: ${offeredByNoProxy(e.targetRef)}, so this entry matches ${what}`);
    });
  }
  return problems;
}

/** The local dataplanes a policy selects (their rules of its type list it), and why it may select fewer than meant. */
export function dataplanesOf(index: ZoneIndex | undefined, cache: RulesCache, type: PolicyKind, mesh: string, name: string): Lookup<PolicyDataplanesView> {
  if (!index) return { missing: LOADING };
  const policy = { type, mesh, name };
  const invalid = index.problems.filter((p) => p.kind === type && p.mesh === mesh && p.name === name).map((p) => `${p.message}: this zone ignores it, so it selects nothing`);
  const m = index.meshes.get(mesh);
  const parsed = m?.policies.find((p) => p.type === type && p.name === name);
  if (!parsed) {
    if (invalid.length > 0) return { found: { policy, total: 0, items: [], problems: invalid } };
    if (!m) return { found: { policy, total: 0, items: [], problems: [`${meshMissing(index, mesh)}, so this policy selects nothing here`] } };
    return { missing: 'the xDS reconciler has not read it yet: try again in a moment' };
  }
  const items: { mesh: string; name: string }[] = [];
  for (const dp of index.dataplanes.values()) {
    if (dp.mesh !== mesh) continue;
    if (cache.get(index, dp)?.rules[type]?.policies.includes(name)) items.push({ mesh, name: dp.name });
  }
  items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { found: { policy, total: items.length, items, problems: neverMatches(parsed, offeredServices(index, m!)) } };
}
